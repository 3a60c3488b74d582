"""Shared fixtures: real services are required under CI=true, optional on a laptop."""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    """Fail under CI (the service must be there), skip elsewhere."""
    if _port_open(port):
        return
    message = f"{name} is not listening on 127.0.0.1:{port} (bash .ci/services.sh starts it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", 5432)
    return os.environ.get("LANEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", 6379)
    return os.environ.get("LANEWAY_TEST_REDIS", "redis://127.0.0.1:6379/15")
