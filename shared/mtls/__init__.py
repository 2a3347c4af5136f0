"""mtls: the project's toolkit for mutual TLS between Python services.

Where to look:
- `mtls.contexts`  builds every ssl.SSLContext (the only module that does);
- `mtls.server`    terminates mTLS in uvicorn and fills the ASGI TLS extension;
- `mtls.identity`  reads the caller's Principal from the client certificate;
- `mtls.authz`     decides who may call which route (deny by default);
- `mtls.client`    calls a peer over mTLS with httpx;
- `mtls.reload`    swaps in rotated certificates without a restart;
- `mtls.health`, `mtls.metrics`, `mtls.logs`, `mtls.errors`: operating it.
"""

from mtls.authz import ANY_PRINCIPAL, allow
from mtls.client import PeerClient, PeerUnavailable
from mtls.identity import Principal
from mtls.material import MaterialError, Role
from mtls.reload import TLSContexts
from mtls.settings import TLSSettings

__all__ = [
    "ANY_PRINCIPAL",
    "MaterialError",
    "PeerClient",
    "PeerUnavailable",
    "Principal",
    "Role",
    "TLSContexts",
    "TLSSettings",
    "allow",
]
