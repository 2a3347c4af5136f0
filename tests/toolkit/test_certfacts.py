"""One reader of certificate facts: the copies that drifted apart now agree.

Each test here failed on the code before `mtls.certfacts`: the doctor read only
the first CRL of a file, ignored the key's password, and `devpki inspect`
called a certificate's first spiffe:// URI its SPIFFE ID where the server
refuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import issue_with_uris
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from devpki import DEFAULT_TRUST_DOMAIN, DevPKI, certificate_facts
from devpki.authority import load as load_authority
from devpki.crl import build_crl
from mtls.doctor import examine

KEY_PASSPHRASE = "workshop-key-passphrase"  # a test's own throwaway key, never a service's


def _cas(*authorities: DevPKI) -> list[x509.Certificate]:
    return [
        cert
        for pki in authorities
        for cert in x509.load_pem_x509_certificates(pki.ca_cert_path.read_bytes())
    ]


def test_doctor_reads_every_crl_of_a_file_during_a_ca_rotation(
    default_pki: DevPKI, new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    """Two CRLs in one file (old CA, then new CA): the second one counts as much as the first."""
    new_ca = new_pki(default=False)
    leaf = new_ca.issue("storefront", client_only=True)
    new_ca.revoke("storefront")
    crl = tmp_path / "crl.pem"
    crl.write_bytes(default_pki.crl_path.read_bytes() + new_ca.crl_path.read_bytes())
    facts = examine(
        leaf.chain_path, leaf.key_path, _cas(default_pki, new_ca), crl, DEFAULT_TRUST_DOMAIN
    )
    assert facts.revoked
    assert any(check.label == "revocation" and check.status == "fail" for check in facts.checks)


def test_doctor_does_not_call_a_serial_revoked_by_another_ca_revoked(
    default_pki: DevPKI, new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    """Revocation is by issuer and serial: our serial in another CA's CRL is not our revocation."""
    ours = default_pki.leaf("storefront")
    other = load_authority(new_pki(default=False).layout)
    listing_our_serial = {
        "crl_number": 0,
        "revoked": [{"serial": f"{ours.serial:x}", "revoked_at": "2026-01-01T00:00:00+00:00"}],
    }
    crl = tmp_path / "crl.pem"
    crl.write_bytes(build_crl(listing_our_serial, other.intermediate, other.intermediate_key))
    facts = examine(ours.chain_path, ours.key_path, _cas(default_pki), crl, DEFAULT_TRUST_DOMAIN)
    assert not facts.revoked


def test_doctor_reads_an_encrypted_key_with_the_key_password(
    default_pki: DevPKI, tmp_path: Path
) -> None:
    leaf = default_pki.leaf("storefront")
    encrypted = tmp_path / "key.pem"
    encrypted.write_bytes(
        leaf.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSPHRASE.encode()),
        )
    )
    encrypted.chmod(0o600)
    cas = _cas(default_pki)
    without = examine(leaf.chain_path, encrypted, cas, None, DEFAULT_TRUST_DOMAIN)
    assert not without.usable
    key_check = next(check for check in without.checks if check.label == "key")
    assert "MTLS_KEY_PASSWORD" in key_check.fix
    facts = examine(
        leaf.chain_path, encrypted, cas, None, DEFAULT_TRUST_DOMAIN, key_password=KEY_PASSPHRASE
    )
    assert facts.usable, [check.detail for check in facts.checks]


@pytest.mark.parametrize(
    "uris",
    [
        ("spiffe://Demo.Internal/orders",),  # upper-case trust domain
        ("spiffe://demo.internal/orders", "spiffe://demo.internal/ops"),  # two URI SANs
        ("https://example.test/x", "spiffe://demo.internal/orders"),  # two URI SANs
    ],
    ids=["upper-case-domain", "two-spiffe-uris", "https-then-spiffe"],
)
def test_devpki_inspect_names_a_spiffe_id_only_where_the_server_accepts_one(
    default_pki: DevPKI, uris: tuple[str, ...]
) -> None:
    leaf = issue_with_uris(default_pki, "odd-uris", uris)
    assert certificate_facts(leaf.certificate).spiffe_id is None
    assert leaf.spiffe_id is None
