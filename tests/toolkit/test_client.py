"""mtls.client.PeerClient against real servers, and `python -m mtls healthcheck`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from devpki import DevPKI
from mtls import PeerClient, PeerUnavailable, Role, TLSSettings
from mtls.contexts import server_context
from mtls.material import load_material

from harness.clients import toolkit_contexts as contexts_for
from harness.polling import eventually
from harness.ports import free_port
from harness.processes import ServerProcess, run_module, tls_env


def call(client: PeerClient, path: str) -> httpx.Response:
    async def run() -> httpx.Response:
        try:
            return await client.request("GET", path)
        finally:
            await client.aclose()

    return asyncio.run(run())


def refusal(client: PeerClient, path: str = "/health") -> PeerUnavailable:
    with pytest.raises(PeerUnavailable) as caught:
        call(client, path)
    return caught.value


@pytest.fixture(scope="module")
def nameless_server(default_pki: DevPKI) -> Iterator[int]:
    """A TLS server whose certificate names elsewhere.internal only (not localhost)."""
    leaf = default_pki.issue("elsewhere-server", dns=["elsewhere.internal"])
    settings = TLSSettings(cert=leaf.chain_path, key=leaf.key_path, ca=default_pki.ca_cert_path)
    context = server_context(load_material(settings, (Role.SERVER,)))
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):  # the clients refuse it mid-handshake
                context.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_peer_client_calls_the_echo_server_as_its_identity(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    client = PeerClient("echo", echo.url, contexts_for(default_pki.directory, "storefront"))
    response = call(client, "/whoami")
    assert response.status_code == 200
    assert response.json()["principal"] == "storefront"


def test_peer_client_reuses_one_connection(echo: ServerProcess, default_pki: DevPKI) -> None:
    client = PeerClient("echo", echo.url, contexts_for(default_pki.directory, "ops"))

    def ops_lines() -> list[dict[str, Any]]:
        return [r for r in echo.events("request") if r["principal"] == "ops"]

    def these_four() -> list[dict[str, Any]] | None:
        mine = ops_lines()[before:]
        return mine if len(mine) >= 4 else None

    before = len(ops_lines())

    async def run() -> None:
        try:
            for _ in range(3):
                response = await client.request("GET", "/whoami")
                assert response.status_code == 403
            body = (await client.request("GET", "/health")).json()
            assert body["status"] == "ok"
        finally:
            await client.aclose()

    asyncio.run(run())
    # An access line is written once its response is sent: wait for all four.
    mine = eventually(these_four, "ops' four access lines")
    assert len({r["peer"] for r in mine}) == 1


def test_server_certificate_without_our_hostname_is_hostname_mismatch(
    nameless_server: int, default_pki: DevPKI
) -> None:
    url = f"https://localhost:{nameless_server}"
    client = PeerClient("elsewhere", url, contexts_for(default_pki.directory, "storefront"))
    error = refusal(client)
    assert error.why.reason == "hostname_mismatch"
    assert error.url == f"{url}/health"
    assert str(error).startswith(f"elsewhere at {url}/health is unavailable: ")
    assert error.as_dict()["reason"] == "hostname_mismatch"


def test_closed_port_is_unreachable(default_pki: DevPKI) -> None:
    url = f"https://localhost:{free_port()}"
    error = refusal(PeerClient("nobody", url, contexts_for(default_pki.directory, "storefront")))
    assert error.why.reason == "unreachable"
    assert f"nobody at {url}/health" in str(error)


def test_server_refusing_our_certificate_is_connection_closed(
    echo: ServerProcess, default_pki: DevPKI, new_pki: Callable[..., DevPKI]
) -> None:
    other = new_pki()
    contexts = contexts_for(other.directory, "storefront", ca=default_pki.ca_cert_path)
    error = refusal(PeerClient("echo", echo.url, contexts))
    # TLS 1.3: our handshake completed; the server hung up (asyncio sends no alert).
    assert error.why.reason == "connection_closed"
    assert f"echo at {echo.url}/health is unavailable" in str(error)
    echo.wait_for_event("tls handshake refused", reason="unknown_ca")


def test_healthcheck_exits_0_for_a_healthy_server(echo: ServerProcess, default_pki: DevPKI) -> None:
    env = tls_env(default_pki.directory, "ops")
    result = run_module("mtls", env, "healthcheck", f"{echo.url}/health")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_healthcheck_exits_1_with_one_line_when_the_server_is_down(default_pki: DevPKI) -> None:
    url = f"https://localhost:{free_port()}/health"
    result = run_module("mtls", tls_env(default_pki.directory, "ops"), "healthcheck", url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"healthcheck: {url}: ")
    assert "(unreachable)" in lines[0]


def test_healthcheck_exits_1_when_refused_by_policy_or_tls(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    result = run_module(
        "mtls", tls_env(default_pki.directory, "storefront"), "healthcheck", f"{echo.url}/metrics"
    )
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
