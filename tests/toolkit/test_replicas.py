"""PeerClient when the peer has replicas that come and go (Swarm, Kubernetes).

A kept-alive connection is retired after its age limit, so that a new replica
behind the same name gets its share; a call that failed is sent once more only
when that cannot do its work twice: it never reached a server, or it carries an
Idempotency-Key. A TLS refusal and a dropped call without a key are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from devpki import DevPKI
from mtls import PeerClient, PeerUnavailable, Role, TLSSettings
from mtls.contexts import server_context
from mtls.material import load_material
from mtls.metrics import PEER_RETRIES
from test_client import call, contexts_for, nameless_server  # noqa: F401 (a fixture)

from harness.ports import free_port
from harness.processes import ServerProcess

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def retries(peer: str) -> float:
    return PEER_RETRIES.labels(peer)._value.get()


def test_a_kept_alive_connection_is_replaced_once_past_its_age_limit(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    contexts = contexts_for(default_pki.directory, "storefront")
    client = PeerClient("echo", echo.url, contexts, max_connection_age=0.5)

    async def ports() -> list[int]:
        seen = []
        try:
            for pause in (0.0, 0.0, 0.8):  # the limit is drawn within +-25% of 0.5 s
                await asyncio.sleep(pause)
                seen.append((await client.request("GET", "/whoami")).json()["client_port"])
        finally:
            await client.aclose()
        return seen

    first, second, third = asyncio.run(ports())
    assert first == second, "a young connection is reused"
    assert third != first, "a connection past its age limit is replaced"


@dataclass
class DroppingServer:
    """A real TLS server that reads the first request it gets and drops its connection
    without an answer (a replica killed mid-call); later requests are answered 200."""

    port: int
    requests: list[bytes] = field(default_factory=list)


@pytest.fixture
def dropping_server(default_pki: DevPKI) -> Iterator[DroppingServer]:
    leaf = default_pki.leaf("payments")
    settings = TLSSettings(cert=leaf.chain_path, key=leaf.key_path, ca=default_pki.ca_cert_path)
    context = server_context(load_material(settings, (Role.SERVER,)))
    listener = socket.create_server(("127.0.0.1", 0))
    server = DroppingServer(listener.getsockname()[1])

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
            while request := tls.recv(65536):
                server.requests.append(request)
                if len(server.requests) == 1:
                    return  # closed, unanswered
                tls.sendall(ANSWER)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server
    listener.close()


def post(server: DroppingServer, default_pki: DevPKI, headers: dict[str, str]) -> httpx.Response:
    url = f"https://localhost:{server.port}"
    client = PeerClient("dropping", url, contexts_for(default_pki.directory, "orders"))

    async def run() -> httpx.Response:
        try:
            return await client.request("POST", "/payments", json={}, headers=headers)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_a_dropped_call_with_an_idempotency_key_is_sent_once_more(
    dropping_server: DroppingServer, default_pki: DevPKI
) -> None:
    before = retries("dropping")
    answer = post(dropping_server, default_pki, {"Idempotency-Key": "order-1"})
    assert answer.status_code == 200
    assert len(dropping_server.requests) == 2
    assert all(b"idempotency-key: order-1" in r.lower() for r in dropping_server.requests)
    assert retries("dropping") == before + 1


def test_a_dropped_call_without_an_idempotency_key_is_not_sent_again(
    dropping_server: DroppingServer, default_pki: DevPKI
) -> None:
    before = retries("dropping")
    with pytest.raises(PeerUnavailable):
        post(dropping_server, default_pki, {})
    assert len(dropping_server.requests) == 1, "a call that may have done its work is not resent"
    assert retries("dropping") == before


def test_a_call_that_reached_no_server_is_retried_once(default_pki: DevPKI) -> None:
    client = PeerClient(
        "nobody",
        f"https://localhost:{free_port()}",
        contexts_for(default_pki.directory, "storefront"),
    )
    before = retries("nobody")
    with pytest.raises(PeerUnavailable) as caught:
        call(client, "/health")
    assert caught.value.why.reason == "unreachable"
    assert retries("nobody") == before + 1


def test_a_tls_refusal_is_not_retried(nameless_server: int, default_pki: DevPKI) -> None:  # noqa: F811
    url = f"https://localhost:{nameless_server}"
    client = PeerClient("nameless", url, contexts_for(default_pki.directory, "storefront"))
    with pytest.raises(PeerUnavailable):
        call(client, "/health")
    assert retries("nameless") == 0
