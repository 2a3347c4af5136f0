"""Bench-only servers: the same app over plain HTTP, server-only TLS and mTLS.

    python -m bench.serve ping --mode plain|tls|mtls --port P     (MTLS_* as for orders)
    python -m bench.serve chain-plain orders|payments             (MTLS_*, ORDERS_*, PAYMENTS_*)
    python -m bench.serve plain-database orders|payments          (as python -m orders|payments)

The services and the toolkit have no insecure switch, and this module adds
none to them: it lives in bench/ and wires the toolkit's own pieces
differently. Plain HTTP is uvicorn's own protocol (`PlainProtocol`); server-only
TLS uses the toolkit's protocol and server context with the client-certificate
request turned off. So the policy dependencies still have a caller to check,
`BenchIdentity` puts the Principal of a fixed certificate in the scope when the
connection carried none. mTLS runs through `mtls.protocol.serve`, exactly as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import runpy
import ssl
from collections.abc import Callable
from typing import Any, cast

import uvicorn
from fastapi import Depends, FastAPI
from mtls import Principal, TLSContexts, TLSSettings, allow
from mtls.app import secure_app
from mtls.coalesce import CoalescingTransport
from mtls.contexts import server_context
from mtls.identity import IDENTITY_KEY, connection_identity
from mtls.logs import configure_logging, uvicorn_log_config
from mtls.process import serve
from mtls.protocol import KEEP_ALIVE_TIMEOUT, protocol_for
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PrincipalFor = Callable[[dict[str, Any]], Principal]


class BenchIdentity:
    """Gives a request without a client certificate the identity `principal_for(scope)`.

    Plain HTTP and server-only TLS carry no client certificate, so the toolkit put no
    identity (or a refusal) in the scope; this puts the one the bench stands in for.
    """

    def __init__(self, app: Any, principal_for: PrincipalFor) -> None:
        self.app, self.principal_for = app, principal_for

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not isinstance(scope.get(IDENTITY_KEY), Principal):
            scope[IDENTITY_KEY] = self.principal_for(scope)
        await self.app(scope, receive, send)


class ServerOnlyTLS:
    """The toolkit's contexts, but the server does not ask for a client certificate."""

    def __init__(self, contexts: TLSContexts) -> None:
        self.settings, self.material = contexts.settings, contexts.material
        self.server = server_context(contexts.material)
        self.server.verify_mode = ssl.CERT_NONE

    def on_reload(self, listener: Callable[..., object]) -> None:
        """Nothing reloads during a bench run."""


class PlainProtocol(HttpToolsProtocol):
    """uvicorn's own httptools protocol on the plain socket: the baseline without TLS."""


class PlainCoalescingProtocol(HttpToolsProtocol):
    """Plain HTTP that also joins a response's writes, as the toolkit does over TLS.

    For the kept-alive comparison only: it separates what TLS costs from what
    coalescing saves."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CoalescingTransport(transport))  # type: ignore[arg-type]


def ping_app(contexts: TLSContexts) -> FastAPI:
    """The smallest route that still authenticates and authorizes its caller."""
    app = FastAPI(title="bench", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/ping")
    async def ping(principal: Principal = Depends(allow("storefront"))) -> dict[str, str]:
        return {"pong": principal.name}

    return secure_app(app, contexts)


def serve_like_the_toolkit(app: Any, port: int, protocol: type[asyncio.Protocol]) -> None:
    """uvicorn with the settings of `mtls.protocol.serve` (uvloop, httptools, no access log)."""
    configure_logging()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=protocol,
        log_config=uvicorn_log_config(),
        access_log=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
    )
    server = uvicorn.Server(config)
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=config.get_loop_factory()) as runner,
    ):
        runner.run(server.serve())


def _principal(contexts: TLSContexts, name: str) -> Principal:
    """`name`'s Principal, read from its certificate by the toolkit's own rules."""
    der = (contexts.settings.pki_dir / name / "cert.pem").read_bytes()
    identity = connection_identity(ssl.PEM_cert_to_DER_cert(der.decode()), contexts.settings)
    if not isinstance(identity, Principal):
        raise SystemExit(f"bench: {name}'s certificate maps to no principal: {identity}")
    return identity


def run_ping(mode: str, port: int) -> None:
    contexts = TLSContexts(TLSSettings())
    storefront = _principal(contexts, "storefront")
    app = BenchIdentity(ping_app(contexts), lambda scope: storefront)
    if mode == "mtls":
        serve(app, contexts, "127.0.0.1", port)
    elif mode == "tls":
        serve_like_the_toolkit(app, port, protocol_for(ServerOnlyTLS(contexts)))  # type: ignore[arg-type]
    elif mode == "plain-coalesced":
        serve_like_the_toolkit(app, port, PlainCoalescingProtocol)
    else:
        serve_like_the_toolkit(app, port, PlainProtocol)


def run_chain_plain(service: str) -> None:
    """orders or payments over plain HTTP; the caller is known from the route it calls."""
    contexts = TLSContexts(TLSSettings())
    if service == "orders":
        from orders.app import create_app as create_orders
        from orders.settings import OrdersSettings

        orders_settings = OrdersSettings()
        storefront, payments = _principal(contexts, "storefront"), _principal(contexts, "payments")
        app = BenchIdentity(
            create_orders(contexts, orders_settings),
            lambda scope: payments if scope["path"].endswith("/payment-events") else storefront,
        )
        port = orders_settings.port
    else:
        from payments.app import create_app as create_payments
        from payments.settings import PaymentsSettings

        payments_settings = PaymentsSettings()
        orders = _principal(contexts, "orders")
        app = BenchIdentity(create_payments(contexts, payments_settings), lambda scope: orders)
        port = payments_settings.port
    serve_like_the_toolkit(app, port, PlainProtocol)


def run_plain_database(service: str) -> None:
    """`python -m <service>` itself, but its PostgreSQL connections in plain TCP: what TLS on
    the database hop costs. Bench only: the product has no switch for it (servicekit.database
    always hands asyncpg the toolkit's client context), and the bench's cluster has a
    `hostnossl ... trust` line for it (harness.postgres, plain_tcp_for_bench)."""
    import servicekit.database as database

    with_tls = database._postgresql_engine
    without_tls = cast(database.TLSProvider, lambda: False)  # asyncpg's ssl=False: plain TCP
    database._postgresql_engine = lambda url, tls: with_tls(url, without_tls)
    runpy.run_module(service, run_name="__main__", alter_sys=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ping = commands.add_parser("ping")
    ping.add_argument("--mode", choices=("plain", "plain-coalesced", "tls", "mtls"), required=True)
    ping.add_argument("--port", type=int, required=True)
    chain = commands.add_parser("chain-plain")
    chain.add_argument("service", choices=("orders", "payments"))
    plain_database = commands.add_parser("plain-database")
    plain_database.add_argument("service", choices=("orders", "payments"))
    args = parser.parse_args()
    if args.command == "ping":
        run_ping(args.mode, args.port)
    elif args.command == "chain-plain":
        run_chain_plain(args.service)
    else:
        run_plain_database(args.service)


if __name__ == "__main__":
    main()
