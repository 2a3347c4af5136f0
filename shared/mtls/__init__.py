"""mtls: the project's toolkit for mutual TLS between Python services.

Where to look:
- `mtls.contexts`  builds every ssl.SSLContext (the only module that does);
- `mtls.protocol`    terminates mTLS in uvicorn and fills the ASGI TLS extension;
- `mtls.identity`  reads the caller's Principal from the client certificate;
- `mtls.authz`     decides who may call which route (deny by default);
- `mtls.client`    calls a peer over mTLS with httpx;
- `mtls.reload`    swaps in rotated certificates without a restart;
- `mtls.health`, `mtls.metrics`, `mtls.logs`, `mtls.errors`: operating it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtls.authz import ANY_PRINCIPAL as ANY_PRINCIPAL
    from mtls.authz import allow as allow
    from mtls.client import PeerClient as PeerClient
    from mtls.client import PeerUnavailable as PeerUnavailable
    from mtls.identity import Principal as Principal
    from mtls.material import MaterialError as MaterialError
    from mtls.material import Role as Role
    from mtls.reload import TLSContexts as TLSContexts
    from mtls.settings import TLSSettings as TLSSettings

# Imported on first use: `python -m mtls healthcheck` (the container health check, every
# few seconds) then loads neither FastAPI nor uvicorn.
_HOMES = {
    "ANY_PRINCIPAL": "mtls.authz",
    "allow": "mtls.authz",
    "PeerClient": "mtls.client",
    "PeerUnavailable": "mtls.client",
    "Principal": "mtls.identity",
    "MaterialError": "mtls.material",
    "Role": "mtls.material",
    "TLSContexts": "mtls.reload",
    "TLSSettings": "mtls.settings",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mtls' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
