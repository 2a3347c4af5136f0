"""Revocation reaches running services: `devpki revoke` rewrites the CRL, the next handshake fails.

The CRL is one of the watched files, so the services reload it like a
certificate. Their own certificates are not touched: orders and payments keep
calling each other, and a reissued storefront certificate is accepted again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from certsupport import devpki_cli, metric, place_order, refusals, refused_request, running
from devpki import DevPKI
from support import client_context, https

from services import ServicePair


def test_revoked_storefront_is_refused_by_running_services_without_a_restart(
    new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    pki = new_pki()
    revoked = pki.leaf("storefront").serial
    with ServicePair.start(pki.directory, tmp_path) as pair:
        orders, payments = running(pair)
        pids = {orders.proc.pid, payments.proc.pid}
        kept_alive = https(pki.directory, "storefront")  # a connection opened before the revoke
        assert kept_alive.get(f"{pair.orders_url}/health").status_code == 200
        place_order(pair)

        assert f"revoked storefront (serial {revoked:x})" in devpki_cli(pki, "revoke", "storefront")
        for server in (orders, payments):
            reload = server.wait_for_event("tls material reloaded")  # the CRL changed
            assert reload["old_serial"] == reload["new_serial"]  # its own certificate stays

        storefront = client_context(pki.directory, "storefront")
        for server in (orders, payments):
            peer, error = refused_request(storefront, server.port)
            refusal = server.wait_for_event("tls handshake refused", peer=peer)
            assert refusal["reason"] == "revoked", (refusal, error)
        assert (
            metric(
                pair.orders_url, pki.directory, "mtls_handshake_failures_total", reason="revoked"
            )
            == 1.0
        )

        # Established connections are not cut: revocation acts at the next handshake.
        assert kept_alive.get(f"{pair.orders_url}/health").status_code == 200
        kept_alive.close()
        # The services' own certificates still work both ways, and a new storefront one does.
        pki.renew("storefront")
        order = place_order(pair)
        assert order["status"] == "paid"
        pair.wait_for_status(order["id"], "settled")
        assert {orders.proc.pid, payments.proc.pid} == pids
        for server in (orders, payments):
            assert len(refusals(server)) == 1, refusals(server)
        assert orders.proc.poll() is None
        assert payments.proc.poll() is None
