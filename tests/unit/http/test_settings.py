"""Which proxy a call takes and which CAs it trusts, from config and the environment.

Proxy variables follow curl's and Python's `urllib.request` rules (lower case
wins; NO_PROXY lists hosts or domain suffixes that go direct).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from laneway.errors import ConfigError
from laneway.http import DIRECT, TransportPool, UpstreamSettings
from laneway.http.settings import masked_proxy, proxy_for, shown_proxy, tls_context
from laneway.http.transport import moved_base_url, redirected, refused_status, without_query

ENV = {"HTTPS_PROXY": "http://corp:3128", "HTTP_PROXY": "http://plain:3128"}


def test_the_environment_proxy_is_chosen_by_scheme() -> None:
    none = UpstreamSettings()
    assert proxy_for("https://api.anthropic.com/v1/messages", none, ENV) == "http://corp:3128"
    assert proxy_for("http://vllm.lan:8000/v1", none, ENV) == "http://plain:3128"
    assert proxy_for("https://api.openai.com/v1", none, {}) is None


def test_lower_case_variables_win_as_in_curl() -> None:
    env = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}
    assert proxy_for("https://x.test/", UpstreamSettings(), env) == "http://lower:1"


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1:8000", "vllm.internal.corp", "internal.corp"]
)
def test_no_proxy_sends_listed_hosts_and_domains_direct(host: str) -> None:
    env = {**ENV, "NO_PROXY": "localhost,127.0.0.1,.internal.corp,internal.corp"}
    assert proxy_for(f"https://{host}/v1", UpstreamSettings(), env) is None
    assert proxy_for("https://api.openai.com/v1", UpstreamSettings(), env) == "http://corp:3128"


def test_the_global_proxy_beats_the_environment_but_not_no_proxy() -> None:
    settings = UpstreamSettings(proxy="http://global:8080")
    env = {**ENV, "NO_PROXY": "localhost"}
    assert proxy_for("https://api.openai.com/v1", settings, env) == "http://global:8080"
    assert proxy_for("http://localhost:11434/v1", settings, env) is None


def test_a_providers_own_proxy_and_direct_always_apply() -> None:
    own = UpstreamSettings(proxy="http://own:1", proxy_is_own=True)
    env = {**ENV, "NO_PROXY": "*"}
    assert proxy_for("https://api.openai.com/v1", own, env) == "http://own:1"
    assert proxy_for("https://api.openai.com/v1", UpstreamSettings(proxy=DIRECT), ENV) is None


def test_a_proxys_password_is_not_shown() -> None:
    assert shown_proxy("http://user:hunter2@corp:3128/") == "http://corp:3128"


def test_ca_file_is_added_to_the_system_store(tmp_path: Path) -> None:
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    context = tls_context(str(path))
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_ca_file_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"tls.ca_file .* cannot be read as PEM"):
        tls_context(str(path))


def test_a_redirect_names_its_target_without_the_query() -> None:
    error = redirected(
        "https://old.test/api/v1/chat/completions?k=0",
        301,
        "https://new.test/v1/chat/completions?k=1",
    )
    assert error.kind == "redirect"
    assert "redirected (301) to https://new.test/v1/chat/completions;" in str(error)
    assert error.location == "https://new.test/v1/chat/completions"
    assert error.url == "https://old.test/api/v1/chat/completions"
    assert "k=1" not in str(error)


def test_a_relative_redirect_is_resolved_against_the_request() -> None:
    error = redirected("https://a.test/v1/messages", 307, "/v2/messages")
    assert error.location == "https://a.test/v2/messages"


@pytest.mark.parametrize(
    ("url", "base", "location", "moved"),
    [
        (
            "https://a.test/api/v1/chat/completions",
            "https://a.test/api/v1",
            "https://b.test/v1/chat/completions",
            "https://b.test/v1",
        ),
        (
            "https://a.test/v1/messages",
            "https://a.test",
            "https://a.test/v2/v1/messages",
            "https://a.test/v2",
        ),
        ("https://a.test/v1/chat/completions", "https://a.test/v1", "https://login.test/sso", None),
    ],
)
def test_the_base_url_a_redirect_implies(
    url: str, base: str, location: str, moved: str | None
) -> None:
    assert moved_base_url(url, base, location) == moved


def test_a_redirect_without_location_still_names_the_status() -> None:
    assert "answered 302 (a redirect) without a Location" in str(
        redirected("https://a.test/x", 302, None)
    )


@pytest.mark.parametrize(
    ("status", "refused"),
    [(200, False), (204, False), (404, False), (101, True), (103, True), (304, True)],
)
def test_only_final_non_redirect_statuses_are_answers(status: int, refused: bool) -> None:
    assert (refused_status("https://a.test/", status, {}) is not None) is refused


def test_without_query_drops_user_info_query_and_fragment() -> None:
    assert without_query("https://u:p@a.test/x/y?key=1#f") == "https://a.test/x/y"


async def test_the_pool_makes_one_transport_per_setting_and_closes_each_once() -> None:
    made: list[UpstreamSettings] = []
    closed: list[int] = []

    class Recorder:
        def __init__(self, n: int) -> None:
            self.n = n

        async def aclose(self) -> None:
            closed.append(self.n)

    def make(settings: UpstreamSettings) -> Recorder:
        made.append(settings)
        return Recorder(len(made))

    pool = TransportPool(make)  # type: ignore[arg-type]
    a = pool.get(UpstreamSettings())
    assert pool.get(UpstreamSettings()) is a
    pool.get(UpstreamSettings(proxy="http://p:1"))
    await pool.aclose()
    assert sorted(closed) == [1, 2]


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        ("http://u:pw@h:1", "http://u:***@h:1"),
        ("http://u@h:1", "http://u@h:1"),
        ("http://h:1", "http://h:1"),
        ("direct", "direct"),
    ],
)
def test_masked_proxy_hides_only_the_password(proxy: str, shown: str) -> None:
    assert masked_proxy(proxy, "***") == shown


def test_the_settings_repr_never_shows_a_proxy_password() -> None:
    settings = UpstreamSettings(proxy="http://u:hunter2@h:1", proxy_is_own=True)
    assert "hunter2" not in repr(settings)
    assert "http://u:***@h:1" in repr(settings)
