"""Start-up of an mTLS service: check everything, then listen, or stop with one line.

A missing file, a key that does not match, a route without a policy: each is
reported as a single line naming what to fix, and the process exits with
status 2 before it opens its port.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from mtls.authz import UndeclaredPolicyError
from mtls.material import MaterialError
from mtls.reload import TLSContexts
from mtls.server import serve
from mtls.settings import ServiceSettings, TLSSettings

EXIT_CONFIGURATION = 2
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


def main(
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
