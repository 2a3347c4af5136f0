"""Dev PKI for the mTLS reference project: a library first, a CLI second.

    from devpki import DevPKI
    pki = DevPKI(tmp_path); pki.init(); leaf = pki.issue("orders", dns=["localhost"])

Tests mint exactly the certificate they need (expired, foreign trust domain, wrong
EKU, self-signed...) with one call; `python -m devpki` wraps the same calls.
"""

from devpki.errors import PKIError
from devpki.inspect import CertificateFacts, certificate_facts
from devpki.keys import KeyType
from devpki.leaf import Leaf
from devpki.names import DEFAULT_TRUST_DOMAIN
from devpki.pkcs12 import DEFAULT_PASSWORD, PASSWORD_ENV
from devpki.pki import DevPKI

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_TRUST_DOMAIN",
    "PASSWORD_ENV",
    "CertificateFacts",
    "DevPKI",
    "KeyType",
    "Leaf",
    "PKIError",
    "certificate_facts",
]
