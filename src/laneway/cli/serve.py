"""`laneway serve`: the OpenAI- and Anthropic-compatible server on uvicorn (uvloop + httptools).

Without client keys the server is open, so it binds to 127.0.0.1 only;
binding elsewhere without keys needs `--insecure-no-auth`. On SIGINT/SIGTERM
uvicorn stops accepting, lets in-flight requests finish for up to
`--graceful-timeout` seconds, then the app closes the gateway (audit flushed).
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from laneway.cli.config_source import ConfigOption, environment, load_cli_config
from laneway.cli.readiness import lane_readiness, print_readiness
from laneway.errors import LanewayError
from laneway.server.request_guard import is_loopback_name as is_loopback

if TYPE_CHECKING:
    from laneway.config.model import Config


def register(app: typer.Typer) -> None:
    app.command("serve", short_help="Serve the OpenAI-compatible HTTP API.")(serve_command)


def check_bind(host: str, *, has_keys: bool, insecure_no_auth: bool) -> None:
    """Refuse to expose an open server unless told to, naming the two fixes."""
    if has_keys or insecure_no_auth or is_loopback(host):
        return
    raise LanewayError(
        f"refusing to serve on {host} without client keys: anyone who can reach it could "
        "spend your provider credits. Add keys under server.keys in the config, or pass "
        "--insecure-no-auth if this network is trusted."
    )


def interpreter_note(config_args: object, base_prefix: str) -> str | None:
    """A start-up note when this CPython was built from source without PGO.

    Most of a request's CPU is the interpreter, and such a build (pyenv's
    default, a bare `./configure`) spends more of it than an optimised one
    (docs/performance.md, "The interpreter"). Distribution builds under
    /usr are optimised without saying so in their configure arguments, and
    builds that record none (Windows) are left alone.
    """
    if not isinstance(config_args, str) or "--enable-optimizations" in config_args:
        return None
    if base_prefix == "/usr":
        return None
    return (
        f"note: this Python ({platform.python_version()} in {base_prefix}) was built without "
        "--enable-optimizations; an optimised build serves each request with 10-15% less "
        'CPU (docs/server.md, "Which Python to run it on")'
    )


def serve_command(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Interface (default server.host).")] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port, 0 for any free one (default server.port)."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    insecure_no_auth: Annotated[
        bool, typer.Option("--insecure-no-auth", help="Allow a non-loopback bind without keys.")
    ] = False,
    graceful_timeout: Annotated[
        float, typer.Option(help="Seconds in-flight requests get to finish on shutdown.")
    ] = 30.0,
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput).")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the OpenAI and Anthropic APIs: /v1/chat/completions, /v1/messages, /v1/models."""
    env = environment()
    resolved = load_cli_config(config, env)
    server = resolved.spec.server
    has_keys = bool(server.keys) or server.admin_key is not None
    bind_host = host or server.host
    bind_port = server.port if port is None else port
    check_bind(bind_host, has_keys=has_keys, insecure_no_auth=insecure_no_auth)
    console = Console(stderr=True)
    if not has_keys:
        console.print(
            f"[yellow]no client keys configured (server.keys): serving without auth on "
            f"{bind_host} only[/yellow]"
        )
        if not is_loopback(bind_host) and not server.allowed_hosts:
            console.print(
                "[yellow]without keys only Host names localhost, 127.0.0.1 and [::1] are "
                "answered (DNS-rebinding defence): list the names clients use in "
                "server.allowed_hosts[/yellow]"
            )
    where = f"http://{bind_host}:{bind_port}"
    if bind_port == 0:
        where = f"http://{bind_host} (a free port: see uvicorn's 'running on' line)"
    console.print(
        f"laneway serving {resolved.source} on {where} "
        f"({workers} worker{'s' if workers > 1 else ''}, {len(resolved.lanes)} lanes)"
    )
    print_readiness(console, lane_readiness(resolved, env))
    note = interpreter_note(sysconfig.get_config_var("CONFIG_ARGS"), sys.base_prefix)
    if note is not None:
        console.print(note, style="dim", highlight=False, soft_wrap=True)
    from laneway.server.protocol import HttpProtocol

    options = {
        "host": bind_host,
        "port": bind_port,
        "loop": "uvloop",
        "http": HttpProtocol,  # httptools, with each answer's writes sent as one
        "lifespan": "on",
        "timeout_graceful_shutdown": graceful_timeout,
        "access_log": access_log,
        "log_level": log_level,
        "server_header": False,
        "proxy_headers": False,  # laneway reads no client address; saves a middleware
    }
    if workers > 1:
        _serve_workers(config, workers, options)
    else:
        _serve_one(resolved, env, options)


def _serve_one(resolved: Config, env: dict[str, str], options: dict[str, object]) -> None:
    import uvicorn

    from laneway.engine.gateway import Gateway
    from laneway.server.app import create_app

    gateway = Gateway.from_config(resolved, env=env)
    app = create_app(gateway, env=env, owns_process=True)
    uvicorn.Server(uvicorn.Config(app, **options)).run()  # type: ignore[arg-type]


def _serve_workers(config: Path | None, workers: int, options: dict[str, object]) -> None:
    """Each worker process builds its own gateway from `LANEWAY_CONFIG`."""
    import uvicorn

    if config is not None:
        os.environ["LANEWAY_CONFIG"] = str(config.resolve())
    uvicorn.run(
        "laneway.server.app:app_from_env",
        factory=True,
        workers=workers,
        **options,  # type: ignore[arg-type]
    )
