"""The revoked list (ca/revoked.json) and the CRL built from it.

The JSON list is the source of truth, so the CRL can be rebuilt at any time (for a
fresh next_update) without parsing the previous CRL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from devpki.builders.common import CLOCK_SKEW, aki_from
from devpki.errors import PKIError
from devpki.keys import SigningKey

NEXT_UPDATE = timedelta(days=7)


def load_revoked(path: Path) -> dict[str, Any]:
    """{"crl_number": int, "revoked": [{"serial": hex, "name": str, "revoked_at": iso}]}."""
    if not path.exists():
        return {"crl_number": 0, "revoked": []}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        data.setdefault("crl_number", 0)
        data.setdefault("revoked", [])
    except (ValueError, OSError) as exc:
        raise PKIError(f"cannot read the revoked list {path}: {exc}; fix or delete it") from None
    return data


def add_revoked(data: dict[str, Any], serial: int, name: str) -> bool:
    """Add a serial once; False when it was already revoked."""
    hex_serial = f"{serial:x}"
    if any(entry["serial"] == hex_serial for entry in data["revoked"]):
        return False
    revoked_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    data["revoked"].append({"serial": hex_serial, "name": name, "revoked_at": revoked_at})
    return True


def dump_revoked(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def build_crl(
    data: dict[str, Any],
    issuer: x509.Certificate,
    issuer_key: SigningKey,
    issued_at: datetime | None = None,
) -> bytes:
    """A PEM CRL from the issuing CA; bumps data["crl_number"] so peers see it is newer.

    `issued_at` (default now) lets tests make a CRL that is old or already stale.
    """
    data["crl_number"] = int(data["crl_number"]) + 1
    this_update = (issued_at or datetime.now(UTC)) - CLOCK_SKEW
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(this_update + CLOCK_SKEW + NEXT_UPDATE)
        .add_extension(aki_from(issuer_key), critical=False)
        .add_extension(x509.CRLNumber(data["crl_number"]), critical=False)
    )
    for entry in data["revoked"]:
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(entry["serial"], 16))
            .revocation_date(datetime.fromisoformat(entry["revoked_at"]))
            .build()
        )
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.PEM)
