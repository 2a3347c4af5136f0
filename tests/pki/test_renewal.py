"""Certificates that renew themselves: `python -m devpki renewer` and its window.

The renewer renews each leaf inside its renewal window (the last third of its
life, no later than 30 days before expiry, never more than half its life);
the services take the new files through their reload. In short-lived mode
(leaves of seconds) the whole chain keeps serving through many renewals of
every leaf with no failed request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from certsupport import reissue
from devpki import DevPKI
from devpki.leaf_files import write_leaf
from devpki.renewer import RenewalPolicy, Renewer
from mtls import PeerClient, Role, TLSContexts, TLSSettings
from service_pair import ORDER, ServicePair

from harness.clients import https
from harness.metrics import metric
from harness.ports import free_port
from harness.processes import ServerProcess

NAMES = ("orders", "payments", "storefront", "ops")
DAY = timedelta(days=1)


def _due_after(lifetime: timedelta) -> timedelta:
    """How long after its start a leaf of this lifetime becomes due (default policy)."""
    return lifetime - RenewalPolicy().window_for(lifetime)


def test_the_renewal_window_is_the_last_third_but_30_days_at_least_and_half_at_most() -> None:
    assert _due_after(365 * DAY) == 365 * DAY * 2 / 3  # a year: renewed with 121 days left
    assert _due_after(60 * DAY) == 30 * DAY  # two months: 30 days before expiry
    assert _due_after(30 * DAY) == 15 * DAY  # a month: at half its life, not at once
    assert _due_after(timedelta(seconds=60)) == timedelta(seconds=30)  # short-lived mode


def test_renewer_renews_only_the_leaves_inside_their_window_and_keeps_their_shape(
    new_pki: Callable[..., DevPKI],
) -> None:
    pki = new_pki()
    write_leaf(pki.layout, reissue(pki, "payments", lifetime=timedelta(seconds=60)))
    before = {name: pki.leaf(name).certificate for name in NAMES}
    later = datetime.now(UTC) + timedelta(seconds=45)  # payments' 60 s leaf is due, others not

    assert Renewer(pki).check(now=later) == ["payments"]

    renewed = pki.leaf("payments").certificate
    assert renewed.serial_number != before["payments"].serial_number
    assert renewed.public_key() != before["payments"].public_key()  # a new key
    assert renewed.subject == before["payments"].subject
    lifetime = renewed.not_valid_after_utc - renewed.not_valid_before_utc
    assert lifetime == timedelta(seconds=60), "a short-lived leaf stays short-lived"
    for name in ("orders", "storefront", "ops"):
        assert pki.leaf(name).certificate == before[name]


def _short_lived(pki: DevPKI, lifetime: timedelta) -> None:
    for name in NAMES:
        write_leaf(pki.layout, reissue(pki, name, lifetime=lifetime))


async def _orders_for(seconds: float, pki: Path, orders_url: str) -> tuple[int, list[str]]:
    """storefront placing orders through the toolkit's own client, which reloads its files."""
    settings = TLSSettings(pki_dir=pki, identity="storefront", reload_interval=0.2)
    contexts = TLSContexts(settings, (Role.CLIENT,))
    watch = asyncio.create_task(contexts.watch())
    client = PeerClient("orders", orders_url, contexts)
    placed, failures = 0, []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            answer = await client.request("POST", "/orders", json=ORDER)
            if answer.status_code == 201 and answer.json()["status"] in ("paid", "settled"):
                placed += 1
            else:
                failures.append(f"HTTP {answer.status_code} {answer.text[:300]}")
            await asyncio.sleep(0.05)
    finally:
        watch.cancel()
        await client.aclose()
    return placed, failures


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_short_lived_mode_survives_five_renewals_of_every_leaf_without_a_failed_request(
    new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    pki = new_pki()
    _short_lived(pki, timedelta(seconds=24))  # renewed every ~12 s
    args = ["--dir", str(pki.directory), "renewer", "--interval", "0.5"]
    renewer = ServerProcess("devpki", {}, free_port(), args)
    try:
        with ServicePair.start(pki.directory, tmp_path) as pair:
            placed, failures = asyncio.run(_orders_for(75.0, pki.directory, pair.orders_url))
            assert pair.orders is not None
            assert pair.payments is not None
            reloads = {
                "orders": len(pair.orders.events("tls material reloaded")),
                "payments": len(pair.payments.events("tls material reloaded")),
            }
    finally:
        renewer.stop()
    renewals = {name: 0 for name in NAMES}
    for record in renewer.events("certificate renewed"):
        renewals[record["leaf"]] += 1
    print(f"short-lived mode: renewals {renewals}, reloads {reloads}, orders placed {placed}")
    assert renewer.events("certificate renewal failed") == []
    assert failures == [], failures[:5]
    assert placed > 100
    assert min(renewals.values()) >= 5, renewals
    assert min(reloads.values()) >= 5, reloads


def test_a_failed_renewal_is_counted_in_the_renewers_metrics_and_retried(
    new_pki: Callable[..., DevPKI],
) -> None:
    pki = new_pki()
    due = datetime.now(UTC) - timedelta(hours=20)  # a 1-day leaf issued 20 h ago
    write_leaf(pki.layout, reissue(pki, "payments", lifetime=DAY, not_before=due))
    old_serial = pki.leaf("payments").serial
    ca_keys, hidden = pki.directory / "ca", pki.directory / "ca.hidden"
    ca_keys.rename(hidden)  # the CA keys are unreachable: every renewal fails
    port = free_port()
    args = ["--dir", str(pki.directory), "renewer", "--interval", "0.3", "--listen", str(port)]
    renewer = ServerProcess("devpki", {}, port, args).wait_listening()
    url = f"https://localhost:{port}"
    try:
        renewer.wait_for_event("certificate renewal failed", leaf="payments")
        failures = metric(url, pki.directory, "mtls_certificate_renewal_failures", leaf="payments")
        assert failures is not None
        assert failures >= 1
        assert pki.leaf("payments").serial == old_serial  # the old certificate stays
        with https(pki.directory, "storefront") as client:
            assert client.get(f"{url}/metrics").status_code == 403  # ops only

        hidden.rename(ca_keys)  # fixed: the next check renews it
        renewer.wait_for_event("certificate renewed", leaf="payments")
        assert metric(url, pki.directory, "mtls_certificate_renewal_failures", leaf="payments") == 0
        renewed = metric(
            url, pki.directory, "mtls_certificate_renewals_total", leaf="payments", result="renewed"
        )
        assert renewed == 1
    finally:
        renewer.stop()
    assert pki.leaf("payments").serial != old_serial
