"""Three `laneway serve` replicas on one Redis and one PostgreSQL behave as one system.

The test spreads its requests over the replicas itself (round robin), as a load
balancer would. One scenario, in order, because starting the processes is the
expensive part: rate limit, key concurrency, key budget, job budget with an
upstream that reports more usage than the estimate, a breaker opened on one
replica, a Redis pause (SIGSTOP of the test's own redis-server), and at the end
one audit row in PostgreSQL for every request sent, refusals included.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster_harness import LANEWAY, PrivateRedis, Replica, Upstream, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

IN_CI = os.environ.get("CI", "").lower() == "true"

REPLICAS = 3
HI = [{"role": "user", "content": "hi"}]
#: the state store's command timeout: what a request may lose to a hung Redis
TIMEOUT_S = 0.25
#: what a request may take on top of it on a loaded, shared machine
SLACK_S = 1.0
#: how long the test's Redis stays stopped (SIGSTOP) while requests go on
PAUSE_S = 5.0


def cluster_config(upstream: int, redis_url: str, audit_url: str) -> dict[str, Any]:
    price = {"input": 20_000, "output": 20_000}  # USD per million tokens: 0.30 per `ok` answer
    return {
        "providers": {
            "up": {
                "kind": "openai_compatible",
                "base_url": f"http://127.0.0.1:{upstream}/v1",
                "api_key": "upstream-test-key",
                "models": {
                    "ok": {"price": price},
                    "slow": {"price": price},
                    "down": {"price": price},
                    "big": {"price": {"input": 300, "output": 300}},  # 0.60 per answer
                },
            }
        },
        "lanes": {
            "chat": {"primary": "up/ok"},
            "slow": {"primary": "up/slow"},
            "down": {"primary": "up/down", "retry": {"unavailable": {"retries": 0}}},
            "job": {"primary": "up/big", "budget": {"usd_per_job": 1.0}},
        },
        "breaker": {"failure_threshold": 2, "window_s": 300, "open_s": 300},
        "server": {
            "keys": [
                {"key": "free-key", "name": "free"},
                {"key": "rpm-a", "name": "rpm-a", "rpm": 12},
                {"key": "rpm-b", "name": "rpm-b", "rpm": 12},
                {"key": "conc-key", "name": "conc", "concurrent": 4},
                {"key": "budget-key", "name": "budget", "budget_usd": 1.0},
            ]
        },
        "audit": {"url": audit_url},
        "state": {"url": redis_url, "command_timeout_s": TIMEOUT_S, "retry_after_s": 1.0},
    }


class Cluster:
    def __init__(self, replicas: list[Replica], upstream: Upstream, redis: PrivateRedis) -> None:
        self.replicas = replicas
        self.upstream = upstream
        self.redis = redis
        self.request_ids: list[str] = []  # of every answer, for the audit check
        self._next = 0
        self.client = httpx.Client(timeout=30)

    def ask(
        self, key: str | None, lane: str = "chat", *, at: int | None = None, **headers: str
    ) -> httpx.Response:
        """One chat completion on replica `at`, else the next one in turn."""
        if at is None:
            at, self._next = self._next % REPLICAS, self._next + 1
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        body = {"model": lane, "messages": HI, "max_tokens": 16}
        url = f"{self.replicas[at].url}/v1/chat/completions"
        answer = self.client.post(url, json=body, headers=headers)
        self.request_ids.append(answer.headers["x-request-id"])
        return answer


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str) -> Iterator[Cluster]:
    if shutil.which("redis-server") is None or not LANEWAY.is_file():
        missing = (
            "redis-server (bash .ci/services.sh installs it)"
            if LANEWAY.is_file()
            else (f"the laneway console script at {LANEWAY}")
        )
        if IN_CI:
            pytest.fail(f"the cluster test needs {missing}")
        pytest.skip(f"the cluster test needs {missing}")
    redis = PrivateRedis(tmp_path)
    upstream = Upstream()
    schema = f"cluster_{uuid.uuid4().hex[:12]}"
    config = tmp_path / "laneway.yaml"
    audit_url = f"{postgres_url}?schema={schema}"
    config.write_text(json.dumps(cluster_config(upstream.port, redis.url, audit_url)))
    replicas = [Replica(config, tmp_path / f"replica-{i}.log") for i in range(REPLICAS)]
    try:
        for replica in replicas:
            replica.wait_listening()
        running = Cluster(replicas, upstream, redis)
        yield running
        running.client.close()
    finally:
        for replica in replicas:
            replica.terminate()
        upstream.stop()
        redis.stop()
    _drop_schema(postgres_url, schema)


def _drop_schema(postgres_url: str, schema: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def _audit_ids(postgres_url: str, audit_url: str) -> Counter[str]:
    import asyncio

    import asyncpg

    schema = audit_url.rpartition("schema=")[2]

    async def read() -> Counter[str]:
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch(f'SELECT request_id FROM "{schema}".audit_requests')
            pending = await conn.fetchval(f'SELECT COUNT(*) FROM "{schema}".audit_pending')
        finally:
            await conn.close()
        assert pending == 0
        return Counter(str(row["request_id"]) for row in rows)

    return asyncio.run(read())


def codes(answers: list[httpx.Response]) -> Counter[str]:
    return Counter(
        "ok" if a.status_code == 200 else str(a.json()["error"]["code"]) for a in answers
    )


def check_rate_limit(cluster: Cluster) -> None:
    """rpm 12, 18 requests over three replicas: 12 admitted (fixed windows of a minute:
    a run that straddles a minute's start is repeated once with the other key)."""
    for key in ("rpm-a", "rpm-b"):
        minute = int(time.time() // 60)
        answers = [cluster.ask(key) for _ in range(18)]
        if int(time.time() // 60) == minute:
            break
    counted = codes(answers)
    assert 11 <= counted["ok"] <= 13, counted
    assert counted["ok"] + counted["rate_limit_exceeded"] == 18


def check_concurrency(cluster: Cluster) -> None:
    """`concurrent: 4`, 12 requests at once over three replicas, held by the upstream:
    exactly 4 run, 8 are refused."""
    upstream = cluster.upstream
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(cluster.ask, "conc-key", "slow", at=i % REPLICAS) for i in range(12)]
        wait_until(
            lambda: upstream.held == 4 and sum(f.done() for f in futures) == 8,
            20,
            "4 requests held upstream and 8 refused",
        )
        upstream.release.set()
        answers = [f.result() for f in futures]
    assert codes(answers) == Counter({"ok": 4, "concurrency_limit_exceeded": 8})
    assert upstream.hits["slow"] == 4


def check_key_budget(cluster: Cluster) -> None:
    """1.00 USD, 0.30 an answer: served while under budget (4 answers, 1.20 spent), then
    refused on every replica."""
    answers = [cluster.ask("budget-key") for _ in range(9)]
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 5
    assert codes(answers[4:]) == Counter({"budget_exceeded": 5})


def check_job_budget(cluster: Cluster) -> None:
    """The job's budget is 1.00 USD; the upstream reports 0.60 an answer, far above the
    estimate for "hi": two answers pass it, then the job is refused everywhere."""
    answers = [cluster.ask("free-key", "job", **{"x-laneway-job-id": "job-1"}) for _ in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 429, 429, 429, 429]
    assert codes(answers[2:]) == Counter({"budget_exceeded": 4})
    assert cluster.upstream.hits["big"] == 2


def check_breaker(cluster: Cluster) -> None:
    """Two failures on replica 0 open the breaker; replicas 1 and 2 then call nobody."""
    first = [cluster.ask("free-key", "down", at=0) for _ in range(2)]
    assert [a.status_code for a in first] == [503, 503]
    hits = cluster.upstream.hits["down"]
    others = [cluster.ask("free-key", "down", at=i) for i in (1, 2)]
    assert cluster.upstream.hits["down"] == hits, [a.text for a in others]
    assert [a.status_code for a in others] == [503, 503]
    assert all("up/down:circuit_open" in a.headers["x-laneway-trace"] for a in others), [
        a.headers["x-laneway-trace"] for a in others
    ]


def check_refusals(cluster: Cluster) -> None:
    answers = [cluster.ask(None), cluster.ask("sk-unknown"), cluster.ask("free-key", "nope")]
    assert [a.status_code for a in answers] == [401, 401, 404]


def check_redis_pause(cluster: Cluster) -> None:
    """Redis stopped for 5 s, requests going on all along: each loses at most the command
    timeout, a key without limits is served (breakers and rate limits from memory), a
    key's budget answers 503, /readyz names the store within its own timeout; after
    SIGCONT all resumes, with no restart."""
    cluster.redis.pause()
    paused_at = time.monotonic()
    rounds = 0
    try:
        while time.monotonic() - paused_at < PAUSE_S or rounds == 0:
            rounds += 1
            for at in range(REPLICAS):
                for key, expected in (("free-key", 200), ("rpm-b", 200), ("budget-key", 503)):
                    started = time.monotonic()
                    answer = cluster.ask(key, at=at)
                    elapsed = time.monotonic() - started
                    assert answer.status_code == expected, answer.text
                    assert elapsed < TIMEOUT_S + SLACK_S, (key, elapsed)
                started = time.monotonic()
                ready = cluster.client.get(f"{cluster.replicas[at].url}/readyz")
                assert time.monotonic() - started < 1.0 + SLACK_S
                assert ready.status_code == 503
                assert "state_store" in ready.json()["down"]
    finally:
        cluster.redis.resume()
    for replica in cluster.replicas:
        wait_until(
            lambda url=replica.url: cluster.client.get(f"{url}/readyz").status_code == 200,
            15,
            "every replica ready again after SIGCONT",
        )
    wait_until(lambda: cluster.ask("free-key").status_code == 200, 5, "served again")
    # within `retry_after_s` every replica asks Redis again: the key's spend is still there
    for at in range(REPLICAS):
        wait_until(
            lambda at=at: cluster.ask("budget-key", at=at).status_code == 429,
            5,
            "the key's budget read from Redis again",
        )


def test_three_replicas_behave_as_one_system(cluster: Cluster, postgres_url: str) -> None:
    check_rate_limit(cluster)
    check_concurrency(cluster)
    check_key_budget(cluster)
    check_job_budget(cluster)
    check_breaker(cluster)
    check_refusals(cluster)
    check_redis_pause(cluster)
    sent = Counter(cluster.request_ids)
    audit_url = json.loads(Path(cluster.replicas[0].log).with_name("laneway.yaml").read_text())[
        "audit"
    ]["url"]
    for replica in cluster.replicas:
        replica.terminate()  # their shutdown writes what the audit writers still hold
    found = _audit_ids(postgres_url, audit_url)
    assert max(sent.values()) == 1  # the server's ids never repeat
    missing = set(sent) - set(found)
    assert not missing, f"{len(missing)} of {len(sent)} requests have no audit row"
    assert set(found) == set(sent)
