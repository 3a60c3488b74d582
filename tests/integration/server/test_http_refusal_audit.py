"""Every request the server receives has exactly one audit row, refusals included.

Real HTTP against a real server thread and a real SQLite audit log, read back
with `sqlite3` once the server has stopped (its shutdown writes what is queued).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from server_harness import fake_config, start_server

HI = [{"role": "user", "content": "hi"}]
BODY = {"model": "chat", "messages": HI}
JSON = "application/json"


def rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM audit_requests ORDER BY ts").fetchall()
        pending = conn.execute("SELECT COUNT(*) FROM audit_pending").fetchone()[0]
    assert pending == 0
    return [dict(row) for row in found]


def test_each_refusal_is_one_rejected_row_with_its_code(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    keys = [
        {"key": "good", "name": "good", "lanes": ["chat"], "rpm": 2},
        {"key": "broke", "name": "broke", "budget_usd": 0.0},
    ]
    config = fake_config(audit={"enabled": True, "url": f"sqlite:///{db}"}, server={"keys": keys})
    server, stop = start_server(config)
    url = f"{server.url}/v1/chat/completions"
    answers = {
        "missing": httpx.post(url, json=BODY),
        "unknown": httpx.post(url, json=BODY, headers={"Authorization": "Bearer sk-stranger"}),
        "forbidden": httpx.post(
            url, json={"model": "coding", "messages": HI}, headers={"Authorization": "Bearer good"}
        ),
        "served": httpx.post(url, json=BODY, headers={"Authorization": "Bearer good"}),
        "rate": httpx.post(url, json=BODY, headers={"Authorization": "Bearer good"}),
        "budget": httpx.post(url, json=BODY, headers={"Authorization": "Bearer broke"}),
        "malformed": httpx.post(
            url, content=b"{", headers={"Authorization": "Bearer broke", "content-type": JSON}
        ),
        "not_json": httpx.post(url, content=b"{", headers={"Authorization": "Bearer broke"}),
        "models": httpx.get(f"{server.url}/v1/models"),
    }
    stop()
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "missing": 401,
        "unknown": 401,
        "forbidden": 403,
        "served": 200,
        "rate": 429,
        "budget": 429,
        "malformed": 400,
        "not_json": 415,
        "models": 401,
    }
    found = {row["request_id"]: row for row in rows(db)}
    assert len(found) == len(answers)  # one row each, keyed by the answer's own id
    by_name = {name: found[a.headers["x-request-id"]] for name, a in answers.items()}
    codes = {name: (row["status"], row["error_code"]) for name, row in by_name.items()}
    assert codes == {
        "missing": ("rejected", "invalid_api_key"),
        "unknown": ("rejected", "invalid_api_key"),
        "forbidden": ("rejected", "lane_not_allowed"),
        "served": ("success", None),
        "rate": ("rejected", "rate_limit_exceeded"),
        "budget": ("rejected", "budget_exceeded"),
        "malformed": ("rejected", "invalid_json"),
        "not_json": ("rejected", "unsupported_media_type"),
        "models": ("rejected", "invalid_api_key"),
    }
    digest = hashlib.sha256(b"sk-stranger").hexdigest()[:12]
    assert by_name["unknown"]["client_key"] == f"unknown:sha256:{digest}"
    assert by_name["missing"]["client_key"] is None
    assert by_name["forbidden"]["client_key"] == "good"
    assert by_name["served"]["client_key"] == "good"
    assert by_name["forbidden"]["lane"] == "coding"
    assert by_name["rate"]["trace"] == '["server:rate_limit_exceeded"]'
    assert all("sk-stranger" not in str(row) for row in found.values())


def test_a_client_request_id_never_chooses_the_row(tmp_path: Path) -> None:
    """Two callers sending the same X-Request-Id get two rows; the id is kept and echoed."""
    db = tmp_path / "audit.db"
    config = fake_config(audit={"enabled": True, "url": f"sqlite:///{db}"})
    server, stop = start_server(config)
    url = f"{server.url}/v1/chat/completions"
    first = httpx.post(url, json=BODY, headers={"x-request-id": "same-id"})
    second = httpx.post(url, json=BODY, headers={"x-request-id": "same-id"})
    stop()
    assert first.status_code == second.status_code == 200
    assert first.headers["x-client-request-id"] == "same-id"
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    found = rows(db)
    assert len(found) == 2
    assert {row["client_request_id"] for row in found} == {"same-id"}
    assert {row["request_id"] for row in found} == {
        first.headers["x-request-id"],
        second.headers["x-request-id"],
    }


def test_refusals_past_the_rate_are_sampled_out_and_summed_up(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    audit = {"enabled": True, "url": f"sqlite:///{db}", "refusals_per_s": 3}
    config = fake_config(audit=audit, server={"keys": [{"key": "good"}]})
    server, stop = start_server(config)
    url = f"{server.url}/v1/chat/completions"
    with httpx.Client() as client:
        answers = [client.post(url, json=BODY) for _ in range(40)]
    metrics = httpx.get(f"{server.url}/metrics").text
    stop()
    assert {a.status_code for a in answers} == {401}
    found = rows(db)
    refused = [r for r in found if r["error_code"] == "invalid_api_key"]
    summaries = [r for r in found if r["error_code"] == "refusals_sampled_out"]
    assert 3 <= len(refused) < 40  # the bucket holds one second's worth, refilled as time goes
    assert len(summaries) == 1  # written at shutdown, with every count
    counted = sum(v for k, v in _extra(summaries[0]).items() if k.startswith("sampled_out."))
    assert len(refused) + counted == 40
    assert f'laneway_audit_refusals_sampled_out_total{{reason="invalid_api_key"}} {counted}.0' in (
        metrics
    )


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    import json

    value = json.loads(row["extra"] or "{}")
    assert isinstance(value, dict)
    return value


def test_a_keys_spend_survives_a_restart_on_memory_state(tmp_path: Path) -> None:
    """`memory://` state: the second server rebuilds the key's spend from the audit log, so
    the budget spent before the restart stays spent."""
    from laneway.types import Usage

    db = tmp_path / "audit.db"
    config = fake_config(
        audit={"enabled": True, "url": f"sqlite:///{db}"},
        server={"keys": [{"key": "k", "name": "team", "budget_usd": 1.0}]},
    )
    config["providers"] = {
        "fake": {"kind": "fake", "models": {"c": {"price": {"input": 10_000, "output": 0}}}}
    }
    url_path = "/v1/chat/completions"
    auth = {"Authorization": "Bearer k"}
    first, stop = start_server(config)
    first.fake.enqueue("c", text="ok", usage=Usage(input_tokens=100, output_tokens=1))
    assert httpx.post(f"{first.url}{url_path}", json=BODY, headers=auth).status_code == 200
    spent = httpx.post(f"{first.url}{url_path}", json=BODY, headers=auth)
    assert spent.json()["error"]["code"] == "budget_exceeded"
    stop()
    second, stop_again = start_server(config)
    again = httpx.post(f"{second.url}{url_path}", json=BODY, headers=auth)
    stop_again()
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "budget_exceeded"
    served = [row for row in rows(db) if row["status"] == "success"]
    assert [(row["client_key"], row["cost_usd"]) for row in served] == [("team", 1.0)]


def test_a_messages_api_refusal_is_one_row_naming_the_x_api_key_digest(tmp_path: Path) -> None:
    """`/v1/messages` (the Anthropic SDKs send `x-api-key`) audits its refusals too."""
    db = tmp_path / "audit.db"
    config = fake_config(
        audit={"enabled": True, "url": f"sqlite:///{db}"}, server={"keys": [{"key": "good"}]}
    )
    server, stop = start_server(config)
    body = {"model": "chat", "max_tokens": 16, "messages": HI}
    answer = httpx.post(
        f"{server.url}/v1/messages",
        json=body,
        headers={"x-api-key": "sk-ant-stranger", "anthropic-version": "2023-06-01"},
    )
    stop()
    assert answer.status_code == 401
    [row] = rows(db)
    digest = hashlib.sha256(b"sk-ant-stranger").hexdigest()[:12]
    assert (row["status"], row["error_code"]) == ("rejected", "invalid_api_key")
    assert row["client_key"] == f"unknown:sha256:{digest}"


def test_a_served_token_count_is_one_success_row(tmp_path: Path) -> None:
    """`/v1/messages/count_tokens` makes no completion, but it is a request: one row."""
    db = tmp_path / "audit.db"
    config = fake_config(
        audit={"enabled": True, "url": f"sqlite:///{db}"}, server={"keys": [{"key": "good"}]}
    )
    server, stop = start_server(config)
    answer = httpx.post(
        f"{server.url}/v1/messages/count_tokens",
        json={"model": "chat", "messages": HI},
        headers={"x-api-key": "good", "anthropic-version": "2023-06-01"},
    )
    stop()
    assert answer.status_code == 200, answer.text
    [row] = rows(db)
    assert (row["status"], row["model"]) == ("success", answer.headers["x-laneway-model"])
    assert row["request_id"] == answer.headers["x-request-id"]
    assert f"{row['model']}:estimate" in row["trace"]  # a fake model: laneway's estimate
    assert row["cost_usd"] in (None, 0, 0.0)
