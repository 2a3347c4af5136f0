"""Start-up of an mTLS service: check everything, then listen, or stop with one line.

A missing file, a key that does not match, a route without a policy: each is
reported as a single line naming what to fix, and the process exits with
status 2 before it opens its port.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

from mtls.authz import UndeclaredPolicyError
from mtls.material import MaterialError
from mtls.reload import TLSContexts
from mtls.server import serve
from mtls.settings import TLSSettings

EXIT_CONFIGURATION = 2


def _stop(service: str, message: str) -> NoReturn:
    print(f"{service}: cannot start: {message}", file=sys.stderr)
    sys.exit(EXIT_CONFIGURATION)


def run_service(
    service: str,
    build_app: Callable[[TLSContexts], Any],
    *,
    host: str,
    port: int,
    settings: TLSSettings | None = None,
) -> None:
    """Load and check the TLS material, build the app, and serve it over mTLS."""
    try:
        contexts = TLSContexts(settings or TLSSettings())
        app = build_app(contexts)
    except (MaterialError, UndeclaredPolicyError, ValueError) as exc:
        _stop(service, str(exc))
    serve(app, contexts, host, port)
