"""Certificates rotate under running services: new handshakes use new files, nothing fails.

Each change style (atomic rename, Kubernetes symlink swap, in-place write) is
applied to a server's files and to an in-process client's files while a
prober keeps opening fresh connections; a half-written pair is ignored until
it is whole; `devpki renew` reaches running services on both sides.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from certsupport import (
    STYLES,
    Caller,
    Load,
    MaterialDir,
    Prober,
    access_serials,
    devpki_cli,
    leaf_files,
    peer_serial,
    place_order,
    refusals,
    reissue,
    running,
    serial_served,
    wait_until,
    write_atomically,
)
from conftest import EchoServers
from devpki import DevPKI
from mtls import PeerClient, Role, TLSContexts, TLSSettings
from service_pair import ORDER, ServicePair

from harness.clients import client_context, https


def _client_contexts(pki: DevPKI, material: MaterialDir) -> TLSContexts:
    """An in-process client, as a service's PeerClient sees its own material."""
    settings = TLSSettings(
        cert=material.chain, key=material.key, ca=pki.ca_cert_path, reload_interval=0.1
    )
    return TLSContexts(settings, roles=(Role.CLIENT,))


async def _call_through_rotation(
    contexts: TLSContexts, url: str, rotate: Callable[[], None], new_serial: int
) -> tuple[list[str], list[str]]:
    """Call /whoami without pause while `rotate` runs and until the new serial is seen.

    Returns the caller serials the server saw, and the failures.
    """
    watcher = asyncio.create_task(contexts.watch())
    client = PeerClient("echo", url, contexts)
    seen, failures = [], []
    rotation = asyncio.create_task(asyncio.to_thread(rotate))
    try:
        for _ in range(1000):
            try:
                answer = await client.request("GET", "/whoami")
                seen.append(answer.json()["serial"] if answer.status_code == 200 else "")
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            if rotation.done() and seen and seen[-1] == f"{new_serial:x}":
                break
            await asyncio.sleep(0.02)
        await rotation
    finally:
        watcher.cancel()
        await client.aclose()
    return seen, failures


@pytest.mark.parametrize("style", STYLES)
def test_rotated_files_reach_new_handshakes_on_both_sides_without_failures(
    style: str, default_pki: DevPKI, echo_servers: EchoServers, tmp_path: Path
) -> None:
    server_files = MaterialDir(tmp_path / "server", style).install(
        leaf_files(default_pki.leaf("orders"))
    )
    client_files = MaterialDir(tmp_path / "client", style).install(
        leaf_files(default_pki.leaf("storefront"))
    )
    server = echo_servers.start(default_pki, "orders", env=server_files.env())
    new_server, new_client = reissue(default_pki, "orders"), reissue(default_pki, "storefront")
    strict = client_context(default_pki.directory, "storefront")
    contexts = _client_contexts(default_pki, client_files)

    def make_client() -> httpx.Client:
        return https(default_pki.directory, "storefront")

    server_rotation = threading.Thread(target=server_files.rotate, args=(leaf_files(new_server),))
    with Prober(make_client, f"{server.url}/whoami") as prober:
        server_rotation.start()
        seen, failures = asyncio.run(
            _call_through_rotation(
                contexts,
                server.url,
                lambda: client_files.rotate(leaf_files(new_client)),
                new_client.serial,
            )
        )
        server_rotation.join(30)
        wait_until(lambda: serial_served(strict, server.port, new_server.serial), "new serial")

    assert failures == [], failures
    assert prober.failures == [], prober.failures
    assert prober.ok > 0
    old_client = f"{default_pki.leaf('storefront').serial:x}"
    assert seen[0] == old_client
    assert seen[-1] == f"{new_client.serial:x}"
    assert set(seen) == {old_client, f"{new_client.serial:x}"}
    server.wait_for_event("tls material reloaded", serial=f"{new_server.serial:x}")
    reloads = server.events("tls material reloaded")
    assert reloads[0]["old_serial"] == f"{default_pki.leaf('orders').serial:x}"


def test_half_written_pair_is_ignored_until_the_key_arrives(
    default_pki: DevPKI, echo_servers: EchoServers, tmp_path: Path
) -> None:
    files = MaterialDir(tmp_path / "server", "atomic_rename").install(
        leaf_files(default_pki.leaf("orders"))
    )
    server = echo_servers.start(default_pki, "orders", env=files.env())
    strict = client_context(default_pki.directory, "storefront")
    old, new = default_pki.leaf("orders"), reissue(default_pki, "orders")

    write_atomically(files.chain, new.chain_pem())  # the certificate without its key
    skipped = server.wait_for_event("tls material reload skipped")
    assert "does not match" in skipped["reason"]
    for _ in range(10):  # several reload intervals: the pair is looked at again and again
        assert peer_serial(strict, server.port) == old.serial
    assert len(server.events("tls material reload skipped")) == 1
    assert server.events("tls material reloaded") == []

    write_atomically(files.key, new.key_pem())
    reloaded = server.wait_for_event("tls material reloaded")
    assert reloaded["old_serial"] == f"{old.serial:x}"
    assert reloaded["serial"] == f"{new.serial:x}"
    wait_until(lambda: serial_served(strict, server.port, new.serial), "the new serial")


def test_devpki_renew_reaches_running_services_as_server_and_as_client(
    own_pki_services: tuple[DevPKI, ServicePair],
) -> None:
    pki, pair = own_pki_services
    orders, payments = running(pair)
    old = pki.leaf("orders").serial
    place_order(pair)
    wait_until(lambda: access_serials(payments, "orders"), "payments' access log line")
    assert access_serials(payments, "orders") == {f"{old:x}"}

    assert "wrote" in devpki_cli(pki, "renew", "orders")
    new = pki.leaf("orders").serial
    orders.wait_for_event("tls material reloaded", serial=f"{new:x}")
    strict = client_context(pki.directory, "storefront")
    assert peer_serial(strict, pair.orders_port) == new
    place_order(pair)
    wait_until(lambda: f"{new:x}" in access_serials(payments, "orders"), "the new serial")
    assert access_serials(payments, "orders") == {f"{old:x}", f"{new:x}"}
    assert refusals(orders) == []
    assert refusals(payments) == []


def _renew_and_see_it(pair: ServicePair, pki: DevPKI) -> dict[str, int]:
    """Reissue both services with new keys; wait until fresh connections show the new serials."""
    renewed = {name: pki.renew(name).serial for name in ("orders", "payments")}
    strict = client_context(pki.directory, "ops")
    orders, payments = running(pair)
    for server in (orders, payments):
        serial = renewed[server.name]
        server.wait_for_event("tls material reloaded", serial=f"{serial:x}")
        wait_until(partial(serial_served, strict, server.port, serial), f"{serial:x} served")
    wait_until(
        lambda: f"{renewed['orders']:x}" in access_serials(payments, "orders"),
        "orders' new client certificate at payments",
    )
    wait_until(
        lambda: f"{renewed['payments']:x}" in access_serials(orders, "payments"),
        "payments' new client certificate at orders (the events back)",
    )
    return renewed


@pytest.mark.slow
def test_rotation_under_load_fails_no_request_and_new_connections_show_new_serials(
    new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    pki = new_pki()
    first = {name: pki.leaf(name).serial for name in ("orders", "payments")}
    with ServicePair.start(pki.directory, tmp_path) as pair:
        orders, payments = running(pair)
        storefront = Caller(
            lambda: client_context(pki.directory, "storefront"),
            "POST",
            f"{pair.orders_url}/orders",
            201,
            ORDER,
        )
        ops = Caller(
            lambda: client_context(pki.directory, "ops"),
            "GET",
            f"{pair.payments_url}/payments?order_id=none",
            200,
        )
        rounds = []
        with Load([storefront, storefront, ops], workers=8) as load:
            for _ in range(2):
                time.sleep(1.5)  # load on the certificates in use
                rounds.append(_renew_and_see_it(pair, pki))
            time.sleep(1.5)  # and on the last ones
        print(
            f"\nrotation under load: {load.total} requests, {len(load.failures)} failed; "
            f"orders {first['orders']:x} -> {rounds[0]['orders']:x} -> {rounds[1]['orders']:x}, "
            f"payments {first['payments']:x} -> {rounds[0]['payments']:x} "
            f"-> {rounds[1]['payments']:x}"
        )
        assert load.failures == []
        assert load.ok > 100
        wait_until(
            lambda: (
                pair.count("orders", "orders")
                == len(pair.query("orders", "SELECT id FROM orders WHERE status = 'settled'"))
            ),
            "every order settled (events delivered back to orders)",
        )
        for server in (orders, payments):
            assert refusals(server) == []
        assert payments.events("event delivery failed; will retry") == []
        assert orders.events("payment retry failed") == []
        assert access_serials(payments, "orders") == {
            f"{serial:x}" for serial in (first["orders"], *(r["orders"] for r in rounds))
        }


@pytest.mark.parametrize("file_name", ["ca.crt", "crl.pem"])
def test_trust_bundle_or_crl_caught_mid_write_is_not_loaded(
    file_name: str, new_pki: Callable[..., DevPKI]
) -> None:
    pki, other = new_pki(), new_pki()
    settings = TLSSettings(pki_dir=pki.directory, identity="orders", crl=pki.crl_path)
    contexts = TLSContexts(settings)
    path = pki.directory / file_name
    whole = path.read_bytes() + (other.directory / file_name).read_bytes()  # CA rotation, step 1

    path.write_bytes(whole[: len(whole) - 60])  # what a reader sees during an in-place write
    assert contexts.refresh() is False
    assert contexts.generation == 0
    path.write_bytes(whole)
    assert contexts.refresh() is True
    assert contexts.generation == 1
