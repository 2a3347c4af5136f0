"""DevPKI: the library face of the dev PKI, one call per certificate a test needs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from mtls.certfacts import event_fields
from mtls.logs import audit

from devpki import authority, crl
from devpki.builders.leaf import (
    CLIENT_ONLY,
    SERVER_AND_CLIENT,
    SERVER_ONLY,
    LeafSpec,
    spec_from_certificate,
)
from devpki.errors import PKIError
from devpki.inspect import CertificateFacts, certificate_facts
from devpki.keys import KeyType, key_type_of
from devpki.leaf import Leaf
from devpki.leaf_files import load_leaf, make_leaf, write_leaf
from devpki.names import DEFAULT_TRUST_DOMAIN, spiffe_id_for, validate_name, validate_trust_domain
from devpki.store import Layout, ensure_dir, load_certificate, write_file

DIR_ENV = "MTLS_PKI_DIR"
TRUST_DOMAIN_ENV = "MTLS_TRUST_DOMAIN"
DEFAULT_DIR = "certs/generated"
# The renewer serves too: /health and /metrics, so that Prometheus sees renewals fail.
SERVERS = ("orders", "payments", "renewer")  # serve, and call their peers
CLIENTS = ("storefront", "ops")  # call only
DATABASES = ("postgres",)  # serve only: the database, which logs the services in by certificate
DEFAULT_LEAVES = (*SERVERS, *CLIENTS, *DATABASES)


class DevPKI:
    """A two-level CA in one folder and the leaves it issues (see store.Layout)."""

    def __init__(self, directory: Path | str, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> None:
        self.directory = Path(directory)
        self.trust_domain = validate_trust_domain(trust_domain)
        self.layout = Layout(self.directory)

    @classmethod
    def from_env(cls) -> DevPKI:
        """Folder from MTLS_PKI_DIR (certs/generated), trust domain from MTLS_TRUST_DOMAIN."""
        return cls(
            os.environ.get(DIR_ENV) or DEFAULT_DIR,
            os.environ.get(TRUST_DOMAIN_ENV) or DEFAULT_TRUST_DOMAIN,
        )

    @property
    def ca_cert_path(self) -> Path:
        return self.layout.ca_cert

    @property
    def intermediate_cert_path(self) -> Path:
        return self.layout.intermediate_cert

    @property
    def crl_path(self) -> Path:
        return self.layout.crl

    @property
    def chain_crl_path(self) -> Path:
        return self.layout.chain_crl

    @property
    def truststore_path(self) -> Path:
        return self.layout.truststore

    @property
    def trust_dir(self) -> Path:
        """ca.crt and crl.pem again, kept in step by init, revoke and crl: mount this folder."""
        return self.layout.trust_dir

    @property
    def initialized(self) -> bool:
        return authority.exists(self.layout)

    def exists(self, name: str) -> bool:
        """True when a certificate for this name is on disk."""
        return (self.layout.leaf_dir(validate_name(name)) / "cert.pem").exists()

    def init(self, *, force: bool = False) -> None:
        """Root + intermediate, an empty CRL and truststore.p12; keeps an existing CA."""
        ensure_dir(self.directory)
        if force or not self.initialized:
            ca = authority.create(self.layout, self.trust_domain)
        else:
            ca = authority.load(self.layout)
        # chain-crl.pem is newer than some PKIs: one made before it gets it here.
        if force or not (self.layout.crl.exists() and self.layout.chain_crl.exists()):
            authority.write_crl(self.layout, ca)
        if force or not self.layout.truststore.exists():
            authority.write_truststore(self.layout, ca, self.trust_domain)
        authority.publish_trust(self.layout)

    def issue(
        self,
        name: str,
        *,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        client_only: bool = False,
        key_type: KeyType = "p256",
        days: int = 365,
        not_before: datetime | None = None,
        expired: bool = False,
        spiffe_id: str | None = None,
        common_name: str | None = None,
        eku: Sequence[x509.ObjectIdentifier] | None = None,
        hash_algorithm: str = "sha256",
        is_ca: bool = False,
        lifetime: timedelta | None = None,
        key_usage: Mapping[str, bool] | None = None,
        extra_subject: Sequence[tuple[x509.ObjectIdentifier, str]] = (),
        uris: Sequence[str] | None = None,
        self_signed: bool = False,
        keep_key: bool = False,
        force: bool = True,
        write: bool = True,
    ) -> Leaf:
        """Issue (and by default write) a leaf; the odd options exist so tests can mint bad ones.

        spiffe_id overrides the URI SAN ("" for none), uris the whole URI SAN list; eku
        overrides the EKU list; lifetime (e.g. seconds) replaces days; key_usage sets or
        clears KeyUsage bits; extra_subject adds attributes after the CN.
        With force=False an existing certificate is kept and returned.
        """
        validate_name(name)
        if not force and write and self.exists(name):
            return self.leaf(name)
        if not_before is not None and not_before.tzinfo is None:
            not_before = not_before.replace(tzinfo=UTC)
        uri = spiffe_id_for(self.trust_domain, name) if spiffe_id is None else spiffe_id
        spec = LeafSpec(
            common_name=name if common_name is None else common_name,
            organization=f"{self.trust_domain} dev PKI",
            uris=tuple(uris) if uris is not None else ((uri,) if uri else ()),
            dns=tuple(dns),
            ips=tuple(ips),
            eku=tuple(eku)
            if eku is not None
            else (CLIENT_ONLY if client_only else SERVER_AND_CLIENT),
            days=days,
            not_before=not_before,
            expired=expired,
            is_ca=is_ca,
            lifetime=lifetime,
            key_usage=tuple((key_usage or {}).items()),
            extra_subject=tuple(extra_subject),
        )
        ca = None if self_signed else authority.load(self.layout)
        leaf = make_leaf(self.layout, name, spec, ca, key_type, hash_algorithm, keep_key=keep_key)
        if not write:
            return leaf
        written = write_leaf(self.layout, leaf)
        audit("certificate issued", leaf=name, **event_fields(written.certificate))
        return written

    def renew(self, name: str, *, keep_key: bool = False) -> Leaf:
        """Reissue with the same SANs, EKU, key type and lifetime; new key unless keep_key."""
        old = self.leaf(name)
        spec = spec_from_certificate(old.certificate)
        ca = authority.load(self.layout)
        key_type = key_type_of(old.certificate.public_key())
        leaf = make_leaf(self.layout, name, spec, ca, key_type, "sha256", keep_key=keep_key)
        written = write_leaf(self.layout, leaf)
        audit("certificate renewed", leaf=name, old_serial=f"{old.serial:x}",
              **event_fields(written.certificate))  # fmt: skip
        return written

    def revoke(self, name: str) -> Path:
        """Add the name's current serial to ca/revoked.json and rewrite crl.pem."""
        leaf = self.leaf(name)
        ca = authority.load(self.layout)
        data = crl.load_revoked(self.layout.revoked)
        added = crl.add_revoked(data, leaf.serial, name)
        if added:
            write_file(self.layout.revoked, crl.dump_revoked(data))
        authority.write_crl(self.layout, ca)
        authority.publish_trust(self.layout)
        if added:
            audit("certificate revoked", leaf=name, **event_fields(leaf.certificate))
        return self.layout.crl

    def crl(self, *, issued_at: datetime | None = None) -> Path:
        """Rewrite crl.pem (fresh next_update, +7 days) from the revoked list.

        `issued_at` backdates it, for tests of a CRL that is getting old or stale.
        """
        authority.write_crl(self.layout, authority.load(self.layout), issued_at)
        authority.publish_trust(self.layout)
        return self.layout.crl

    def leaves(self) -> list[str]:
        """The names of every leaf issued here: each folder holding a cert.pem."""
        return sorted(p.parent.name for p in self.directory.glob("*/cert.pem"))

    def leaf(self, name: str) -> Leaf:
        """Load an issued leaf; PKIError names the folder when it is unknown."""
        validate_name(name)
        if not self.exists(name):
            raise PKIError(
                f"no certificate named {name!r} in {self.directory}: "
                f"issue it with `python -m devpki issue {name}` or run `make certs`"
            )
        return load_leaf(self.layout, name)

    def make_default(self, *, force: bool = False, lifetime: timedelta | None = None) -> list[Leaf]:
        """The demo identities; keeps what exists unless force, stale or expired.

        `lifetime` (default 365 days) is short-lived mode: leaves of minutes that the
        renewer keeps renewing.
        """
        self.init(force=force)
        usages = {n: SERVER_AND_CLIENT for n in SERVERS} | {n: CLIENT_ONLY for n in CLIENTS}
        usages |= {n: SERVER_ONLY for n in DATABASES}
        leaves = []
        for name, eku in usages.items():
            if not force and self.exists(name) and self._current(name):
                leaves.append(self.leaf(name))
                continue
            serves = eku != CLIENT_ONLY
            dns, ips = ((name, "localhost"), ("127.0.0.1",)) if serves else ((), ())
            leaves.append(self.issue(name, dns=dns, ips=ips, eku=eku, lifetime=lifetime))
        return leaves

    def _current(self, name: str) -> bool:
        """An existing leaf is kept only if the current intermediate signed it and it is valid."""
        cert = self.leaf(name).certificate
        inter = load_certificate(self.layout.intermediate_cert)
        try:
            cert.verify_directly_issued_by(inter)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return cert.not_valid_after_utc > datetime.now(UTC)

    def inspect(self, name_or_path: str) -> CertificateFacts:
        """Facts of a leaf by name, of 'ca'/'intermediate', or of any certificate file."""
        return certificate_facts(load_certificate(self.resolve(name_or_path)))

    def resolve(self, name_or_path: str) -> Path:
        """The certificate file meant by a name or a path."""
        aliases = {"ca": self.ca_cert_path, "root": self.ca_cert_path}
        aliases["intermediate"] = self.intermediate_cert_path
        if name_or_path in aliases:
            return aliases[name_or_path]
        path = Path(name_or_path)
        if path.is_file():
            return path
        return self.leaf(name_or_path).cert_path
