"""Certificates for one bench run, minted fresh in a temporary folder.

The demo identities (P-256, like `make certs`), a CRL so the services check
revocation as in `make run`, and RSA-2048 twins of the server and client
leaves for the key-type comparison. The same files feed our servers and
`openssl s_server`.
"""

from __future__ import annotations

from pathlib import Path

from devpki import DevPKI

from harness.processes import tls_env

TRUST_DOMAIN = "demo.internal"


def make_pki(directory: Path) -> Path:
    pki = DevPKI(directory, TRUST_DOMAIN)
    pki.make_default()
    pki.crl()
    pki.issue(
        "orders-rsa",
        dns=("orders", "localhost"),
        ips=("127.0.0.1",),
        key_type="rsa2048",
        spiffe_id=f"spiffe://{TRUST_DOMAIN}/orders",
    )
    pki.issue(
        "storefront-rsa",
        client_only=True,
        key_type="rsa2048",
        spiffe_id=f"spiffe://{TRUST_DOMAIN}/storefront",
    )
    return directory


def server_env(pki: Path, name: str, **extra: str) -> dict[str, str]:
    """MTLS_* for a server process that is `name` in this PKI, with CRL checking on and the
    files polled at the toolkit's default interval (the tests poll faster)."""
    return tls_env(pki, name, MTLS_CRL=str(pki / "crl.pem"), MTLS_RELOAD_INTERVAL="2", **extra)
