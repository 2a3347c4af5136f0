"""Graceful shutdown on SIGTERM: what an orchestrator's stop (or a rolling update) relies on.

The server stops accepting, answers what is in flight with `Connection: close`,
closes its idle kept-alive connections, and exits within the grace period
(uvicorn's `timeout_graceful_shutdown`, 12 s: a request waiting on a peer for
the whole budget of a call still finishes; compose's and Swarm's
`stop_grace_period`, 20 s, are longer). Real process, real TLS, a real signal.
"""

from __future__ import annotations

import signal
import socket
import threading
import time

import httpx
from conftest import EchoServers
from devpki import DevPKI
from mtls.client import LONGEST_CALL
from mtls.process import GRACEFUL_SHUTDOWN_SECONDS

from harness.clients import client_context, https

GRACE_SECONDS = GRACEFUL_SHUTDOWN_SECONDS
PEER_CALL_BUDGET = LONGEST_CALL


def test_sigterm_answers_in_flight_requests_with_connection_close_and_exits_in_time(
    default_pki: DevPKI, echo_servers: EchoServers
) -> None:
    server = echo_servers.start(default_pki, "orders")
    idle = https(default_pki.directory, "storefront")
    assert idle.get(f"{server.url}/whoami").status_code == 200  # now kept alive, idle
    answers: list[httpx.Response] = []

    def slow_call() -> None:
        with https(default_pki.directory, "storefront") as client:
            answers.append(client.get(f"{server.url}/slow", params={"seconds": 2}))

    in_flight = threading.Thread(target=slow_call)
    in_flight.start()
    time.sleep(0.5)  # the slow request is being served
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    in_flight.join(10)
    server.proc.wait(GRACE_SECONDS + 5)
    took = time.monotonic() - signalled

    (answer,) = answers
    assert answer.status_code == 200, answer.text
    assert answer.headers["connection"] == "close"
    assert took < GRACE_SECONDS + 2, f"exited {took:.1f} s after SIGTERM"
    # Shut down cleanly, uvicorn raises the signal again, so the exit status says SIGTERM.
    assert server.proc.returncode == -signal.SIGTERM
    # Nothing listens any more: a new connection is refused, not left hanging.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0
    idle.close()


def test_sigterm_lets_a_call_as_long_as_a_peer_call_may_take_finish(
    default_pki: DevPKI, echo_servers: EchoServers
) -> None:
    """A request may wait on a peer for its whole budget (connect, a retry's connect, the
    read: 11 s). A 5 s grace cancelled it at SIGTERM + 5 s, and uvicorn answered 500
    (seen in a rolling update on Swarm)."""
    server = echo_servers.start(default_pki, "orders")
    answers: list[httpx.Response] = []
    longest = PEER_CALL_BUDGET - 0.5

    def slow_call() -> None:
        context = client_context(default_pki.directory, "storefront")
        with httpx.Client(verify=context, timeout=30.0) as client:
            answers.append(client.get(f"{server.url}/slow", params={"seconds": longest}))

    in_flight = threading.Thread(target=slow_call)
    in_flight.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    in_flight.join(PEER_CALL_BUDGET + 10)
    server.proc.wait(10)

    (answer,) = answers
    assert answer.status_code == 200, answer.text
