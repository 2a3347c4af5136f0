"""The doctor's one HTTP/1.1 request, over a TLS socket it holds itself, parsed by h11.

The doctor needs to see the raw moment a server closes the connection (that is
how a refused client certificate looks under TLS 1.3), which a client library
would turn into its own exception; h11 (uvicorn's own parser) reads the answer.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import h11

READ_SIZE = 65536


class NoAnswer(Exception):
    """The server closed the connection before it sent a byte."""


def get(tls: ssl.SSLSocket, path: str, host: str) -> tuple[int, Any]:
    """GET path; the status and the body (JSON when it parses). h11.ProtocolError if not HTTP."""
    connection = h11.Connection(our_role=h11.CLIENT)
    request = h11.Request(method="GET", target=path,
                          headers=[("Host", host), ("Connection", "close")])  # fmt: skip
    tls.sendall(connection.send(request) + (connection.send(h11.EndOfMessage()) or b""))
    status, body, received = 0, bytearray(), False
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = tls.recv(READ_SIZE)
            if not data and not received:
                raise NoAnswer
            received = True
            connection.receive_data(data)
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, _decoded(bytes(body))


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
