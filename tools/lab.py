"""The scenarios' scratch PKI: throwaway certificates from the services' own CA.

The services' certificates are never touched: scenario certificates are
issued in a scratch folder holding a copy of the CA (and a second, foreign CA),
and only a revocation reaches the services, as one more serial in their CRL.
"""

from __future__ import annotations

import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
from devpki import DevPKI, Leaf
from devpki.crl import add_revoked, dump_revoked, load_revoked
from devpki.store import write_file
from mtls.contexts import diagnostic_context


@dataclass(frozen=True)
class Attempt:
    """One call a scenario makes: to which service, with which files, how."""

    service: str
    path: str
    cert: Path | None
    key: Path | None
    server_name: str | None = None
    max_tls: str = "1.3"
    note: str = ""  # what happened before this call (rotation, revocation)


class Lab:
    """The running services' URLs and PKI, and a scratch PKI beside them."""

    def __init__(self, pki_dir: Path, scratch: Path, urls: dict[str, str]) -> None:
        self.pki_dir, self.scratch, self.urls = pki_dir, scratch, urls
        self.services = DevPKI(pki_dir)
        self.ca_pem = (pki_dir / "ca.crt").read_text()
        same = scratch / "same-ca"
        shutil.copytree(pki_dir / "ca", same / "ca")
        shutil.copy2(pki_dir / "ca.crt", same / "ca.crt")
        self.same_ca = DevPKI(same, self.services.trust_domain)
        self.other_ca = DevPKI(scratch / "other-ca", self.services.trust_domain)
        self.other_ca.init()

    def identity(self, name: str) -> tuple[Path, Path]:
        """chain.pem and key.pem of one of the services' own identities."""
        return self.pki_dir / name / "chain.pem", self.pki_dir / name / "key.pem"

    def attempt(self, service: str, path: str, leaf: Leaf | None, note: str = "") -> Attempt:
        """A call presenting a scratch leaf (None: no certificate at all)."""
        if leaf is None:
            return Attempt(service, path, None, None, note=note)
        return Attempt(service, path, leaf.chain_path, leaf.key_path, note=note)

    def context(self, attempt: Attempt) -> ssl.SSLContext:
        cert, key = attempt.cert, attempt.key
        return diagnostic_context(
            self.ca_pem,
            str(cert) if cert else None,
            str(key) if key else None,
            max_version=attempt.max_tls,
        )

    def call(self, attempt: Attempt) -> httpx.Response:
        """Make the call as a Python client would (httpx, an SSLContext as verify=)."""
        extensions = {"sni_hostname": attempt.server_name} if attempt.server_name else {}
        with httpx.Client(verify=self.context(attempt), timeout=5.0) as client:
            url = self.urls[attempt.service] + attempt.path
            return client.get(url, extensions=extensions)

    def revoke(self, leaf: Leaf) -> None:
        """Put a scratch certificate's serial into the services' CRL (they reload it)."""
        revoked_list = self.services.layout.revoked
        data = load_revoked(revoked_list)
        if add_revoked(data, leaf.serial, f"scenario {leaf.name}"):
            write_file(revoked_list, dump_revoked(data))
        self.services.crl()
