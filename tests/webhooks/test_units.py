"""The webhook building blocks on their own: the SSRF guard, signatures, the retry schedule,
event-type patterns and the settings. No stack needed."""

from __future__ import annotations

import datetime as dt
import ipaddress
import time

import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook as StandardWebhook

from services.common.errors import ValidationFailed
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks.destinations import (
    AllowList,
    DestinationRefused,
    IPAddress,
    check_destination,
    forbidden_reason,
    parse_url,
)
from services.gateway.webhooks.schedule import after_failure, backoff_delay_s
from services.gateway.webhooks.schemas import WebhookCreate, event_type_matches
from services.gateway.webhooks.service import validate_url
from services.gateway.webhooks.signing import SECRET_PREFIX, new_secret, secret_key, signed_headers

DB = "postgresql://unused@localhost/unused"


def settings(**overrides: object) -> GatewaySettings:
    return GatewaySettings(database_url=DB, **overrides)  # type: ignore[arg-type]


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolver(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in addresses]

    return resolver


# ---- the address rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure wire server: public, refused all the same
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


async def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    url = parse_url("https://hooks.example.com/x", require_https=True)
    assert await check_destination(url, AllowList(), resolving_to("93.184.216.34")) == [
        ipaddress.ip_address("93.184.216.34")
    ]
    with pytest.raises(DestinationRefused, match=r"hooks\.example\.com resolves to 10\.0\.0\.7"):
        await check_destination(url, AllowList(), resolving_to("93.184.216.34", "10.0.0.7"))


async def test_localhost_is_refused_with_the_real_resolver() -> None:
    url = parse_url("http://localhost:8080/hook", require_https=False)
    with pytest.raises(DestinationRefused, match="loopback"):
        await check_destination(url, AllowList())


async def test_registering_localhost_is_refused_naming_url() -> None:
    with pytest.raises(ValidationFailed) as refused:
        await validate_url("http://localhost:8080/hook", settings())
    assert refused.value.extra["errors"][0]["field"] == "url"
    assert "localhost resolves to 127.0.0.1" in refused.value.extra["errors"][0]["message"]


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    url = parse_url("http://no-such-host.invalid/hook", require_https=False)
    with pytest.raises(DestinationRefused, match="does not resolve"):
        await check_destination(url, AllowList())


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "metadata"])
async def test_metadata_names_are_refused_before_resolving(host: str) -> None:
    url = parse_url(f"http://{host}/computeMetadata/v1/", require_https=False)
    with pytest.raises(DestinationRefused, match="metadata"):
        # A resolver answering a public address: the name alone is enough to refuse.
        await check_destination(url, AllowList(), resolving_to("8.8.8.8"))


async def test_the_allow_list_admits_listed_networks_and_hosts_only() -> None:
    allow = AllowList.parse(" 127.0.0.1/32 , 10.20.0.0/16,hooks.corp.internal, [::1]")
    assert allow.hosts == frozenset({"hooks.corp.internal"})
    loopback = parse_url("http://127.0.0.1:9000/x", require_https=False)
    assert await check_destination(loopback, allow) == [ipaddress.ip_address("127.0.0.1")]
    assert await check_destination(parse_url("http://[::1]/x", require_https=False), allow)
    assert await check_destination(parse_url("http://10.20.3.4/x", require_https=False), allow)
    with pytest.raises(DestinationRefused):
        await check_destination(parse_url("http://127.0.0.2/x", require_https=False), allow)
    with pytest.raises(DestinationRefused):
        await check_destination(parse_url("http://10.21.0.1/x", require_https=False), allow)
    # A listed host name is trusted whatever it resolves to.
    named = parse_url("http://hooks.corp.internal/x", require_https=False)
    assert await check_destination(named, allow, resolving_to("10.99.0.1")) == [
        ipaddress.ip_address("10.99.0.1")
    ]


async def test_metadata_addresses_need_an_exact_allow_list_entry() -> None:
    url = parse_url("http://169.254.169.254/latest/meta-data/", require_https=False)
    with pytest.raises(DestinationRefused, match="metadata"):
        await check_destination(url, AllowList.parse("169.254.0.0/16"))
    assert await check_destination(url, AllowList.parse("169.254.169.254"))


async def test_rebinding_is_caught_at_each_check() -> None:
    """The dispatcher checks before every attempt: a name that now resolves to a private address
    is refused although it was public when the webhook was registered."""
    url = parse_url("https://hooks.example.com/x", require_https=True)
    assert await check_destination(url, AllowList(), resolving_to("93.184.216.34"))
    with pytest.raises(DestinationRefused, match=r"169\.254\.169\.254"):
        await check_destination(url, AllowList(), resolving_to("169.254.169.254"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "http"),
        ("example.com/hook", "http"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://example.com/x#frag", "fragment"),
        ("https://" + "a" * 2050 + ".com/", "longer"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(DestinationRefused, match=message):
        parse_url(url, require_https=False)


async def test_https_is_required_in_production_only() -> None:
    production = settings(env="production", service_secret="a-real-secret-for-production")
    with pytest.raises(ValidationFailed) as refused:
        await validate_url("http://8.8.8.8/hook", production)
    assert refused.value.extra["errors"][0]["field"] == "url"
    assert "https" in refused.value.extra["errors"][0]["message"]
    assert await validate_url("https://8.8.8.8/hook", production) == "https://8.8.8.8/hook"
    assert await validate_url("http://8.8.8.8/hook", settings(env="development")) == "http://8.8.8.8/hook"


async def test_the_setting_feeds_the_allow_list() -> None:
    with pytest.raises(ValidationFailed):
        await validate_url("http://127.0.0.1:9/x", settings())
    allowed = settings(webhook_allowed_hosts="127.0.0.1/32")
    assert await validate_url("http://127.0.0.1:9/x", allowed) == "http://127.0.0.1:9/x"


# ---- signatures --------------------------------------------------------------------------------


def test_secrets_are_32_random_bytes_behind_the_prefix() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith(SECRET_PREFIX) and first != second
    assert len(secret_key(first)) == 32


def test_signatures_verify_with_the_standardwebhooks_package() -> None:
    secret = new_secret()
    body = b'{"id":"e1","type":"site.updated","data":{"name":"\xe8\xa5\xbf\xe5\x85\xb4"}}'
    headers = signed_headers(secret, "e1", int(time.time()), body)
    assert headers["webhook-signature"].startswith("v1,")
    assert StandardWebhook(secret).verify(body, headers)["type"] == "site.updated"


def test_the_signature_matches_the_spec_example() -> None:
    """The worked example of the Standard Webhooks specification (msg id, timestamp, body, secret)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = signed_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_changed_body_or_secret_does_not_verify() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "e1", int(time.time()), b'{"a":1}')
    with pytest.raises(Exception, match="signature"):
        StandardWebhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(Exception, match="signature"):
        StandardWebhook(new_secret()).verify(b'{"a":1}', headers)


# ---- the retry schedule ------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    top = [backoff_delay_s(n, base_s=5, cap_s=3600, rand=lambda: 1.0) for n in range(1, 12)]
    assert top[:5] == [5, 10, 20, 40, 80]
    assert top[-1] == 3600 and max(top) == 3600
    # Jitter takes off at most half.
    assert backoff_delay_s(3, base_s=5, cap_s=3600, rand=lambda: 0.0) == 10
    assert backoff_delay_s(10_000, base_s=5, cap_s=60, rand=lambda: 1.0) == 60


def test_a_delivery_is_given_up_when_the_next_attempt_would_leave_the_window() -> None:
    first = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    kwargs = {"base_s": 5.0, "cap_s": 3600.0, "window_s": 24 * 3600.0, "rand": lambda: 1.0}
    early = after_failure(failed_attempts=1, first_attempt_at=first, now=first, **kwargs)  # type: ignore[arg-type]
    assert early.state == "pending" and early.next_attempt_at == first + dt.timedelta(seconds=5)
    late_now = first + dt.timedelta(hours=23, minutes=30)
    late = after_failure(failed_attempts=30, first_attempt_at=first, now=late_now, **kwargs)  # type: ignore[arg-type]
    assert late.state == "failed"
    last = after_failure(
        failed_attempts=30,
        first_attempt_at=first,
        now=first + dt.timedelta(hours=22),
        **kwargs,  # type: ignore[arg-type]
    )
    assert last.state == "pending" and last.next_attempt_at == first + dt.timedelta(hours=23)


def test_the_full_schedule_spans_about_a_day() -> None:
    first = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    now, attempts = first, 1
    while True:
        decision = after_failure(
            failed_attempts=attempts,
            first_attempt_at=first,
            now=now,
            base_s=5,
            cap_s=3600,
            window_s=86400,
            rand=lambda: 1.0,
        )
        if decision.state == "failed":
            break
        now, attempts = decision.next_attempt_at, attempts + 1
    assert now - first <= dt.timedelta(hours=24)
    assert now - first > dt.timedelta(hours=23)
    assert 30 <= attempts <= 40


# ---- event types and input ---------------------------------------------------------------------


def test_event_type_patterns() -> None:
    assert event_type_matches(["*"], "filing.approved")
    assert event_type_matches(["site.*"], "site.tier_changed")
    assert not event_type_matches(["site.*"], "sites.updated")
    assert not event_type_matches(["site.*"], "site")
    assert event_type_matches(["round.published", "site.updated"], "site.updated")
    assert not event_type_matches(["round.published"], "round.closed")


@pytest.mark.parametrize(
    "pattern", ["", "Site.updated", "site.", "*.updated", "site.**", "si te", "site.*.x"]
)
def test_malformed_event_type_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValidationError):
        WebhookCreate(url="https://example.com/x", event_types=[pattern])


def test_settings_read_the_webhook_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINJU_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1/32")
    monkeypatch.setenv("LINJU_WEBHOOK_BACKOFF_BASE_S", "0.5")
    monkeypatch.setenv("LINJU_WEBHOOK_RETRY_WINDOW_S", "60")
    loaded = settings()
    assert loaded.webhook_allowed_hosts == "127.0.0.1/32"
    assert loaded.webhook_backoff_base_s == 0.5 and loaded.webhook_retry_window_s == 60
    assert settings().webhook_timeout_s == 10.0
