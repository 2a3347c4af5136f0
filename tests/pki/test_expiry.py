"""Expiry is seen before it hurts: /health, a warning line at start-up and daily, a metric.

A certificate inside the warning window (30 days by default) makes /health
degraded (HTTP 200); an expired or not-yet-valid one makes it failing (503),
and the service still starts so that /health can say so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from certsupport import MaterialDir, leaf_files, reissue
from conftest import EchoServers
from devpki import DevPKI
from mtls import TLSContexts, TLSSettings
from mtls.errors import explain
from mtls.health import expiry_warnings

from harness.clients import https, unverified_client
from harness.metrics import metric
from harness.processes import ServerProcess

WARNING = "certificate expiry warning"


def _pki_with_orders(new_pki: Callable[..., DevPKI], **validity: Any) -> DevPKI:
    """A fresh PKI whose orders certificate has the given validity (days=, expired=, ...)."""
    pki = new_pki()
    pki.issue("orders", dns=("orders", "localhost"), ips=("127.0.0.1",), **validity)
    return pki


def test_certificate_with_20_days_left_reports_degraded_with_http_200(
    new_pki: Callable[..., DevPKI], echo_servers: EchoServers
) -> None:
    pki = _pki_with_orders(new_pki, days=20)
    leaf = pki.leaf("orders").certificate
    server = echo_servers.start(pki, "orders")
    with https(pki.directory, "storefront") as client:
        answer = client.get(f"{server.url}/health")
    days_left = (leaf.not_valid_after_utc - datetime.now(UTC)).days

    assert answer.status_code == 200
    health = answer.json()
    assert health["status"] == "degraded"
    [mine] = [cert for cert in health["certificates"] if cert["role"] == "leaf"]
    assert mine["status"] == "degraded"
    assert mine["subject"] == leaf.subject.rfc4514_string()
    assert mine["spiffe_id"] == "spiffe://demo.internal/orders"
    assert mine["not_after"] == leaf.not_valid_after_utc.isoformat()
    assert mine["days_left"] == days_left == 19  # 20 days minus devpki's 5 minutes of skew
    assert {cert["status"] for cert in health["certificates"] if cert["role"] != "leaf"} == {"ok"}

    [warning] = server.events(WARNING)
    assert warning["level"] == "warning"
    assert warning["serial"] == f"{leaf.serial_number:x}"
    assert warning["days_left"] == days_left
    expiry = metric(
        server.url,
        pki.directory,
        "mtls_certificate_expiry_timestamp_seconds",
        role="server",
        subject=leaf.subject.rfc4514_string(),
    )
    assert expiry == leaf.not_valid_after_utc.timestamp()


def test_certificate_well_inside_its_validity_is_ok_and_not_warned_about(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    with https(default_pki.directory, "storefront") as client:
        answer = client.get(f"{echo.url}/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert echo.events(WARNING) == []


@pytest.mark.parametrize(
    ("validity", "reason"),
    [
        ({"expired": True}, "expired"),
        ({"not_before": datetime.now(UTC) + timedelta(days=2)}, "not_yet_valid"),
    ],
    ids=["expired", "not_yet_valid"],
)
def test_expired_or_not_yet_valid_certificate_starts_and_fails_health_with_503(
    validity: dict[str, Any],
    reason: str,
    new_pki: Callable[..., DevPKI],
    echo_servers: EchoServers,
) -> None:
    pki = _pki_with_orders(new_pki, **validity)
    server = echo_servers.start(pki, "orders")  # starts: /health must be able to say why
    with unverified_client(pki.directory, "storefront") as probe:
        answer = probe.get(f"{server.url}/health")
    assert answer.status_code == 503
    health = answer.json()
    assert health["status"] == "failing"
    [mine] = [cert for cert in health["certificates"] if cert["role"] == "leaf"]
    assert mine["status"] == "failing"
    [warning] = server.events(WARNING)
    assert warning["level"] == "error"
    assert warning["status"] == "failing"

    with pytest.raises(httpx.HTTPError) as refused, https(pki.directory, "storefront") as client:
        client.get(f"{server.url}/health")  # a verifying peer refuses it, and says why
    assert explain(refused.value).reason == reason


class _Warnings(logging.Handler):
    """Collects expiry warnings; `enough` is set once `wanted` have been written."""

    def __init__(self, wanted: int) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.wanted, self.enough = wanted, asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == WARNING:
            self.records.append(record)
            if len(self.records) >= self.wanted:
                self.enough.set()


def test_expiry_warning_repeats_on_its_period_and_follows_the_material_in_use(
    default_pki: DevPKI, tmp_path: Path
) -> None:
    files = MaterialDir(tmp_path / "orders", "atomic_rename")
    files.install(leaf_files(reissue(default_pki, "orders", days=20)))
    settings = TLSSettings(cert=files.chain, key=files.key, ca=default_pki.ca_cert_path)
    contexts = TLSContexts(settings)

    async def run(seen: _Warnings) -> tuple[int, int]:
        loop = asyncio.create_task(expiry_warnings(contexts, every=0.02))  # "daily", made short
        try:
            await seen.enough.wait()  # start-up, then two more periods
            files.rotate(leaf_files(reissue(default_pki, "orders", days=365)))
            assert contexts.refresh()
            after_reload = len(seen.records)
            await asyncio.sleep(0.2)  # ten more periods
            return after_reload, len(seen.records)
        finally:
            loop.cancel()

    seen = _Warnings(wanted=3)
    audit_logger = logging.getLogger("mtls.audit")
    audit_logger.addHandler(seen)
    level, audit_logger.level = audit_logger.level, logging.INFO
    try:
        after_reload, at_end = asyncio.run(asyncio.wait_for(run(seen), timeout=20))
    finally:
        audit_logger.removeHandler(seen)
        audit_logger.setLevel(level)
    assert len({record.serial for record in seen.records}) == 1  # type: ignore[attr-defined]
    assert at_end == after_reload == 3  # the renewed certificate is not warned about
