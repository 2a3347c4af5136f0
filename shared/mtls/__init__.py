"""mtls: the project's toolkit for mutual TLS between Python services.

Its public API is what this package exports (what the services import):

    from mtls import TLSContexts, PeerClient, allow, secure_app, serve_service

Where to look:
- `mtls.contexts`   builds every ssl.SSLContext the services use;
- `mtls.protocol`   terminates mTLS in uvicorn (`mtls.handshake`) and fills the ASGI TLS
                    extension and the caller's identity once per connection;
- `mtls.certfacts`  the one reader of certificate and CRL facts (X.509-SVID rules too);
- `mtls.identity`   maps the client certificate to a Principal;
- `mtls.authz`      decides who may call which route (deny by default);
- `mtls.client`     calls a peer over mTLS with httpx;
- `mtls.reload`     swaps in rotated certificates without a restart;
- `mtls.app`        wires /health, /metrics and the access log into a FastAPI app;
- `mtls.process`    the process: settings, material, app, uvicorn;
- `mtls.doctor`     a tool beside the runtime: explains a failed handshake.
The other modules serve these; import them from tests, not from a service.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtls.app import secure_app as secure_app
    from mtls.app import service_app as service_app
    from mtls.authz import ANY_PRINCIPAL as ANY_PRINCIPAL
    from mtls.authz import allow as allow
    from mtls.client import PeerClient as PeerClient
    from mtls.client import PeerUnavailable as PeerUnavailable
    from mtls.contexts import client_context as client_context
    from mtls.errors import explain as explain
    from mtls.identity import Principal as Principal
    from mtls.logs import audit as audit
    from mtls.material import MaterialError as MaterialError
    from mtls.material import Role as Role
    from mtls.material import load_material as load_material
    from mtls.process import serve_service as serve_service
    from mtls.reload import TLSContexts as TLSContexts
    from mtls.settings import ServiceSettings as ServiceSettings
    from mtls.settings import TLSSettings as TLSSettings

# Imported on first use: `python -m mtls healthcheck` (the container health check, every
# few seconds) then loads neither FastAPI nor uvicorn.
_HOMES = {
    "ANY_PRINCIPAL": "mtls.authz",
    "allow": "mtls.authz",
    "audit": "mtls.logs",
    "client_context": "mtls.contexts",
    "explain": "mtls.errors",
    "load_material": "mtls.material",
    "PeerClient": "mtls.client",
    "PeerUnavailable": "mtls.client",
    "Principal": "mtls.identity",
    "MaterialError": "mtls.material",
    "Role": "mtls.material",
    "secure_app": "mtls.app",
    "serve_service": "mtls.process",
    "service_app": "mtls.app",
    "ServiceSettings": "mtls.settings",
    "TLSContexts": "mtls.reload",
    "TLSSettings": "mtls.settings",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mtls' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
