"""Start-up of an mTLS service: check everything, then listen, or stop with one line.

A missing file, a key that does not match, a route without a policy: each is
reported as a single line naming what to fix, and the process exits with
status 2 before it opens its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import uvicorn
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from mtls.authz import UndeclaredPolicyError
from mtls.client import LONGEST_CALL
from mtls.health import expiry_warnings
from mtls.logs import audit, configure_logging, uvicorn_log_config
from mtls.material import MaterialError
from mtls.protocol import KEEP_ALIVE_TIMEOUT, protocol_for
from mtls.reload import TLSContexts
from mtls.settings import ServiceSettings, TLSSettings

EXIT_CONFIGURATION = 2
# At SIGTERM uvicorn waits this long for in-flight requests, then cancels them (and answers
# 500): long enough for one that waits on a peer for the whole budget of a call. An
# orchestrator's stop grace period must be longer (compose, Swarm: 20 s; Kubernetes: 30 s).
GRACEFUL_SHUTDOWN_SECONDS = int(LONGEST_CALL) + 1
SettingsT = TypeVar("SettingsT", bound=BaseSettings)
ServiceSettingsT = TypeVar("ServiceSettingsT", bound=ServiceSettings)


def _stop(service: str, message: str) -> NoReturn:
    print(f"{service}: cannot start: {message}", file=sys.stderr)
    sys.exit(EXIT_CONFIGURATION)


def _one_line(exc: ValidationError, prefix: str) -> str:
    return "; ".join(
        f"{prefix}{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors()
    )


def settings_or_exit(service: str, settings_class: type[SettingsT]) -> SettingsT:
    """Read settings from the environment, or stop with one line naming the variable."""
    try:
        return settings_class()
    except ValidationError as exc:
        _stop(service, _one_line(exc, str(settings_class.model_config.get("env_prefix", ""))))


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, announcing "serving over mtls" only once its socket is bound.

    uvicorn runs the app's start-up (and logs "Application startup complete")
    before it binds, and exits if the port is taken: a line written earlier
    would tell an operator, or a test waiting for readiness, that a process
    which is about to die is serving.
    """

    def __init__(self, config: uvicorn.Config, contexts: TLSContexts) -> None:
        super().__init__(config)
        self.contexts = contexts

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        leaf = self.contexts.material.leaf
        audit(
            "serving over mtls",
            url=f"https://{self.config.host}:{self.config.port}",
            min_tls_version=self.contexts.settings.min_tls_version,
            subject=leaf.subject.rfc4514_string(),
            serial=f"{leaf.serial_number:x}",
        )


def serve(
    app: Any, contexts: TLSContexts, host: str, port: int, *, http: str = "httptools"
) -> None:
    """Serve `app` over mTLS on host:port until SIGINT/SIGTERM, reloading certificates live."""
    configure_logging()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_for(contexts, http),
        log_config=uvicorn_log_config(),
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: any local caller could
        # then write any peer address into the access and audit lines.
        proxy_headers=bool(contexts.settings.forwarded_allow_ips),
        forwarded_allow_ips=contexts.settings.forwarded_allow_ips or None,
        h11_max_incomplete_event_size=contexts.settings.max_head_bytes * 2,  # ours acts first
    )
    server = _AnnouncingServer(config, contexts)

    async def run() -> None:
        background = [
            asyncio.create_task(contexts.watch()),
            asyncio.create_task(expiry_warnings(contexts)),
        ]
        try:
            await server.serve()
        finally:
            for task in background:
                task.cancel()

    # uvicorn re-raises the SIGINT it handled after shutting down; like `uvicorn.run`, end quietly.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=config.get_loop_factory()) as runner,
    ):
        runner.run(run())


def run_service(
    service: str,
    build_app: Callable[[TLSContexts], Any],
    *,
    host: str,
    port: int,
    identity: str = "",
) -> None:
    """Load and check the TLS material, build the app, and serve it over mTLS.

    `identity` names the process in the dev PKI when MTLS_IDENTITY is not set.
    """
    try:
        settings = settings_or_exit(service, TLSSettings)
        if not settings.identity and identity:
            settings = settings.model_copy(update={"identity": identity})
        contexts = TLSContexts(settings)
        app = build_app(contexts)
    except (MaterialError, UndeclaredPolicyError, ValueError) as exc:
        _stop(service, str(exc))
    serve(app, contexts, host, port)


def serve_service(
    service: str,
    settings_class: type[ServiceSettingsT],
    create_app: Callable[[TLSContexts, ServiceSettingsT], Any],
) -> None:
    """All of `python -m <service>`: its settings, then its TLS material and app, served."""
    settings = settings_or_exit(service, settings_class)
    run_service(
        service,
        lambda contexts: create_app(contexts, settings),
        host=settings.host,
        port=settings.port,
        identity=service,
    )
