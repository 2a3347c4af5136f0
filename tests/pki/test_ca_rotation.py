"""CA rotation without a restart: trust the new CA, move the leaves to it, drop the old one.

The new CA is a second DevPKI in another folder. Step 1 puts its root in the
trust bundle (and its CRL beside the old one); step 2 copies its leaves over
the services' files; step 3 removes the old CA. Load runs through steps 1
and 2 and nothing fails; after step 3 a leaf of the old CA is refused. The
reload guard refuses the steps in the wrong order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from certsupport import (
    Caller,
    Load,
    access_serials,
    leaf_files,
    running,
    serial_served,
    wait_until,
    write_atomically,
)
from devpki import DevPKI
from mtls import TLSContexts, TLSSettings
from service_pair import ORDER, ServicePair

from harness.clients import client_context, https


def _trust(pki: DevPKI, *authorities: DevPKI) -> None:
    """Make pki's ca.crt and crl.pem hold the roots and CRLs of `authorities` (step 1 and 3)."""
    write_atomically(pki.ca_cert_path, b"".join(a.ca_cert_path.read_bytes() for a in authorities))
    write_atomically(pki.crl_path, b"".join(a.crl_path.read_bytes() for a in authorities))


def _move_leaf(old: DevPKI, new: DevPKI, name: str) -> None:
    """Copy new's leaf over old's files, key first (step 2), each file replaced atomically."""
    for file_name, data in leaf_files(new.leaf(name)).items():
        write_atomically(old.directory / name / file_name, data)


def _accepted(pki: DevPKI, name: str, ca: Path, url: str) -> bool:
    """True when `name`'s certificate from pki gets an answer from url on a new connection."""
    try:
        with https(pki.directory, name, ca=ca) as client:
            return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_ca_rotation_steps_apply_live_without_a_failed_request(
    new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    old, new = new_pki(), new_pki()
    both = tmp_path / "both-roots.pem"  # what the storefront itself trusts from step 1 on
    both.write_bytes(old.ca_cert_path.read_bytes() + new.ca_cert_path.read_bytes())
    with ServicePair.start(old.directory, tmp_path / "data") as pair:
        orders, payments = running(pair)
        storefront = Caller(
            lambda: client_context(old.directory, "storefront", ca=both),
            "POST",
            f"{pair.orders_url}/orders",
            201,
            ORDER,
        )
        ops = Caller(
            lambda: client_context(old.directory, "ops", ca=both),
            "GET",
            f"{pair.payments_url}/payments?order_id=none",
            200,
        )
        with Load([storefront, ops], workers=4) as load:
            time.sleep(1.0)  # load on the old CA alone
            _trust(old, old, new)  # step 1
            for url in (pair.orders_url, pair.payments_url):
                accepted = partial(_accepted, new, "storefront", both, f"{url}/health")
                wait_until(accepted, f"a leaf of the new CA accepted by {url}")
            for name in ("orders", "payments"):  # step 2
                _move_leaf(old, new, name)
            strict = client_context(new.directory, "ops", ca=both)
            for server in (orders, payments):
                serial = new.leaf(server.name).serial
                wait_until(partial(serial_served, strict, server.port, serial), "new CA's leaf")
            new_orders = f"{new.leaf('orders').serial:x}"
            wait_until(lambda: new_orders in access_serials(payments, "orders"), "orders' new leaf")
            time.sleep(1.0)  # load on the moved leaves
        assert load.failures == []
        assert load.ok > 10
        print(f"\nCA rotation steps 1-2 under load: {load.total} requests, 0 failed")

        _trust(old, new)  # step 3: only the new CA is trusted
        wait_until(
            lambda: not _accepted(old, "storefront", both, f"{pair.orders_url}/health"),
            "the old CA's storefront leaf refused",
        )
        orders.wait_for_event("tls handshake refused", reason="unknown_ca")
        with https(new.directory, "storefront", ca=new.ca_cert_path) as client:
            answer = client.post(f"{pair.orders_url}/orders", json=ORDER)
        assert answer.status_code == 201, answer.text  # orders -> payments on the new CA alone


def _contexts(pki: DevPKI, name: str) -> TLSContexts:
    settings = TLSSettings(pki_dir=pki.directory, identity=name, crl=pki.crl_path)
    return TLSContexts(settings)


@pytest.mark.parametrize("mistake", ["leaves_before_trust", "old_ca_dropped_too_early"])
def test_ca_rotation_steps_in_the_wrong_order_are_refused_by_reload(
    mistake: str, new_pki: Callable[..., DevPKI], caplog: pytest.LogCaptureFixture
) -> None:
    old, new = new_pki(), new_pki()
    settings = TLSSettings(pki_dir=old.directory, identity="orders", crl=old.crl_path)
    contexts = TLSContexts(settings)
    serial = contexts.material.leaf.serial_number
    if mistake == "leaves_before_trust":
        _move_leaf(old, new, "orders")
    else:
        _trust(old, new)
    assert contexts.refresh() is False
    assert contexts.material.leaf.serial_number == serial
    assert contexts.generation == 0
    [skipped] = [r for r in caplog.records if r.getMessage() == "tls material reload skipped"]
    assert "does not lead to a CA in MTLS_CA" in skipped.reason
