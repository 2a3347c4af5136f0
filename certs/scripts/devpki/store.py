"""File layout of the PKI directory and atomic, permission-safe writes.

Servers reload certificates while running, so every file is written to a temporary
name and moved into place with os.replace: a reader sees the old file or the new
one, never half of one. Secrets are created with mode 0600 from the first byte.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from devpki.errors import PKIError

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o755


@dataclass(frozen=True)
class Layout:
    """Where each file of the PKI lives, relative to one directory."""

    root: Path

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def root_key(self) -> Path:
        return self.ca_dir / "root.key"

    @property
    def intermediate_cert(self) -> Path:
        return self.ca_dir / "intermediate.crt"

    @property
    def intermediate_key(self) -> Path:
        return self.ca_dir / "intermediate.key"

    @property
    def revoked(self) -> Path:
        return self.ca_dir / "revoked.json"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def chain_crl(self) -> Path:
        """crl.pem and the root's CRL: for verifiers that check every CA (PostgreSQL)."""
        return self.root / "chain-crl.pem"

    @property
    def truststore(self) -> Path:
        return self.root / "truststore.p12"

    @property
    def trust_dir(self) -> Path:
        """Public trust material only (ca.crt, the CRLs): the folder a container mounts."""
        return self.root / "trust"

    def leaf_dir(self, name: str) -> Path:
        return self.root / name


def ensure_dir(path: Path) -> None:
    """Create a folder (and parents), turning OS errors into an actionable PKIError."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise PKIError(
            f"cannot create the folder {path}: {exc.strerror or exc}; "
            "check its permissions or choose another with --dir or MTLS_PKI_DIR"
        ) from None


def write_file(path: Path, data: bytes, *, secret: bool = False) -> Path:
    """Write atomically; secrets never exist with a mode wider than 0600."""
    mode = SECRET_MODE if secret else PUBLIC_MODE
    ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)  # the umask may have removed bits we want (0644)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PKIError(
            f"cannot write {path}: {exc.strerror or exc}; "
            "check the folder's permissions or choose another with --dir or MTLS_PKI_DIR"
        ) from None
    return path


def read_file(path: Path, what: str) -> bytes:
    """Read a PKI file; a missing one becomes a PKIError that says what to run."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PKIError(f"{what} {path} does not exist; run `make certs` first") from None
    except OSError as exc:
        raise PKIError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def load_certificate(path: Path, what: str = "certificate") -> x509.Certificate:
    """First certificate of a PEM (or DER) file."""
    data = read_file(path, what)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise PKIError(f"{path} is not a PEM or DER certificate: {exc}") from None


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM encoding of one certificate."""
    return cert.public_bytes(Encoding.PEM)
