"""The dev PKI (devpki): what it issues must verify, strictly, with OpenSSL, Python and Java."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from devpki import DEFAULT_TRUST_DOMAIN, DevPKI, Leaf, PKIError, certificate_facts
from mtls.certfacts import crls_in

from harness.processes import REPO, run_module

DEFAULT_NAMES = ("orders", "payments", "renewer", "storefront", "ops", "postgres")
SERVERS = ("orders", "payments", "renewer")


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def pki(tmp_path: Path) -> DevPKI:
    """A fresh default PKI for tests that change it."""
    fresh = DevPKI(tmp_path / "pki")
    fresh.make_default()
    return fresh


def openssl_verify(pki: DevPKI, cert: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-CAfile",
            str(pki.ca_cert_path),
            "-untrusted",
            str(pki.intermediate_cert_path),
            *extra,
            str(cert),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def strict(context: ssl.SSLContext, pki: DevPKI, leaf: Leaf) -> ssl.SSLContext:
    """What Python 3.13 does by default, on every version; no partial chains."""
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(pki.ca_cert_path))
    context.load_cert_chain(str(leaf.chain_path), str(leaf.key_path))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.verify_flags &= ~ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def handshake(pki: DevPKI, server: Leaf, client: Leaf, hostname: str) -> dict[str, Any]:
    """A real TLS handshake over 127.0.0.1; returns what each side saw of its peer."""
    server_ctx = strict(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), pki, server)
    client_ctx = strict(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), pki, client)
    assert client_ctx.check_hostname
    seen: dict[str, Any] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    seen["client_cert"] = tls.getpeercert()
                    tls.sendall(b"ok")
            except (OSError, ssl.SSLError) as exc:
                seen["server_error"] = exc

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as raw,
            client_ctx.wrap_socket(raw, server_hostname=hostname) as tls,
        ):
            seen["server_cert"] = tls.getpeercert()
            seen["data"] = tls.recv(2)
        thread.join(10)
    return seen


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_class(kind)


def devpki_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_module("devpki", {}, *args, cwd=cwd)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- the CA
def test_root_is_a_strict_trust_anchor(default_pki: DevPKI) -> None:
    certs = x509.load_pem_x509_certificates(default_pki.ca_cert_path.read_bytes())
    assert len(certs) == 1, "ca.crt must hold the root only"
    root = certs[0]
    assert root.subject == root.issuer
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        f"{DEFAULT_TRUST_DOMAIN} Dev Root CA"
    )
    bc = ext(root, x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == 1
    ku = ext(root, x509.KeyUsage)
    assert ku.critical
    assert ku.value.key_cert_sign
    assert ku.value.crl_sign
    assert ext(root, x509.SubjectKeyIdentifier).value.digest
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert timedelta(days=3649) < lifetime < timedelta(days=3651)


def test_intermediate_is_signed_by_root_and_cannot_sign_cas(default_pki: DevPKI) -> None:
    root = x509.load_pem_x509_certificate(default_pki.ca_cert_path.read_bytes())
    inter = x509.load_pem_x509_certificate(default_pki.intermediate_cert_path.read_bytes())
    inter.verify_directly_issued_by(root)
    bc = ext(inter, x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == 0
    assert ext(inter, x509.KeyUsage).critical
    aki = ext(inter, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(root, x509.SubjectKeyIdentifier).value.digest
    assert ext(inter, x509.SubjectKeyIdentifier).value.digest


def test_ca_keys_are_private_to_the_owner(default_pki: DevPKI) -> None:
    for key in ("root.key", "intermediate.key"):
        assert mode(default_pki.directory / "ca" / key) == 0o600


# ---------------------------------------------------------------- default leaves
@pytest.mark.parametrize("name", DEFAULT_NAMES)
def test_default_leaf_verifies_with_openssl_strict(default_pki: DevPKI, name: str) -> None:
    result = openssl_verify(default_pki, default_pki.leaf(name).cert_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


@pytest.mark.parametrize("name", DEFAULT_NAMES)
def test_default_leaf_has_the_documented_profile(default_pki: DevPKI, name: str) -> None:
    leaf = default_pki.leaf(name)
    cert = leaf.certificate
    inter = x509.load_pem_x509_certificate(default_pki.intermediate_cert_path.read_bytes())
    assert leaf.spiffe_id == f"spiffe://{DEFAULT_TRUST_DOMAIN}/{name}"
    assert uri_sans(cert) == [leaf.spiffe_id]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical
    assert not bc.value.ca
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not ku.value.key_cert_sign
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(inter, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.SubjectKeyIdentifier).value.digest
    assert 0 < cert.serial_number < 2**159
    # Backdated 5 minutes from when it was written (the session's PKI may be older than that).
    written = datetime.fromtimestamp(leaf.cert_path.stat().st_mtime, UTC)
    assert timedelta(minutes=4) < written - cert.not_valid_before_utc < timedelta(minutes=6)
    eku = list(ext(cert, x509.ExtendedKeyUsage).value)
    san = ext(cert, x509.SubjectAlternativeName).value
    if name in SERVERS:
        assert eku == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        assert san.get_values_for_type(x509.DNSName) == [name, "localhost"]
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    elif name == "postgres":  # the database server: it serves, and calls no one
        assert eku == [ExtendedKeyUsageOID.SERVER_AUTH]
        assert san.get_values_for_type(x509.DNSName) == [name, "localhost"]
    else:
        assert eku == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert san.get_values_for_type(x509.DNSName) == []


def test_chain_file_holds_leaf_then_intermediate(default_pki: DevPKI) -> None:
    leaf = default_pki.leaf("orders")
    chain = x509.load_pem_x509_certificates(leaf.chain_path.read_bytes())
    inter = x509.load_pem_x509_certificate(default_pki.intermediate_cert_path.read_bytes())
    assert chain == [leaf.certificate, inter]
    assert leaf.chain_pem() == leaf.chain_path.read_bytes()


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_mtls_handshake_succeeds_under_strict_verification(
    default_pki: DevPKI, server: str, hostname: str
) -> None:
    seen = handshake(
        default_pki, default_pki.leaf(server), default_pki.leaf("storefront"), hostname
    )
    assert "server_error" not in seen, seen.get("server_error")
    assert seen["data"] == b"ok"
    client_uris = [v for k, v in seen["client_cert"]["subjectAltName"] if k == "URI"]
    assert client_uris == [f"spiffe://{DEFAULT_TRUST_DOMAIN}/storefront"]
    server_uris = [v for k, v in seen["server_cert"]["subjectAltName"] if k == "URI"]
    assert server_uris == [f"spiffe://{DEFAULT_TRUST_DOMAIN}/{server}"]


def test_client_only_certificate_cannot_serve_tls(default_pki: DevPKI) -> None:
    storefront = default_pki.leaf("storefront")
    with pytest.raises(
        ssl.SSLCertVerificationError, match=r"(unsuitable|unsupported) certificate purpose"
    ):
        handshake(default_pki, storefront, default_pki.leaf("orders"), "localhost")


def test_server_hostname_not_in_sans_is_refused(default_pki: DevPKI) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(default_pki, default_pki.leaf("orders"), default_pki.leaf("ops"), "payments")


# ---------------------------------------------------------------- files
@pytest.mark.parametrize("name", DEFAULT_NAMES)
def test_private_key_and_keystore_files_are_0600(default_pki: DevPKI, name: str) -> None:
    leaf = default_pki.leaf(name)
    assert leaf.keystore_path is not None
    assert mode(leaf.key_path) == 0o600
    assert mode(leaf.keystore_path) == 0o600
    assert mode(leaf.cert_path) == 0o644


def test_key_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    pki = DevPKI(tmp_path)
    old = os.umask(0)
    try:
        pki.init()
        leaf = pki.issue("loose", dns=["localhost"])
    finally:
        os.umask(old)
    assert mode(leaf.key_path) == 0o600
    assert mode(pki.directory / "ca" / "root.key") == 0o600
    assert not list(tmp_path.rglob("*.tmp")), "temporary files must not be left behind"


def p12_targets(pki: DevPKI) -> list[Path]:
    return [pki.truststore_path, *(pki.directory / n / "keystore.p12" for n in DEFAULT_NAMES)]


def test_pkcs12_files_open_with_openssl(default_pki: DevPKI) -> None:
    for p12 in p12_targets(default_pki):
        result = subprocess.run(
            ["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:changeit", "-nokeys"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{p12}: {result.stderr}"
        assert "BEGIN CERTIFICATE" in result.stdout


def test_pkcs12_files_open_with_java_keytool(default_pki: DevPKI) -> None:
    if shutil.which("keytool") is None:
        pytest.skip("keytool (a JDK) is not installed")
    expected = {default_pki.truststore_path: "trustedCertEntry"}
    expected |= {default_pki.directory / n / "keystore.p12": "PrivateKeyEntry" for n in SERVERS}
    for path, entry in expected.items():
        p12 = str(path)
        result = subprocess.run(
            [
                "keytool",
                "-list",
                "-storetype",
                "PKCS12",
                "-storepass",
                "changeit",
                "-keystore",
                p12,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{p12}: {result.stdout}{result.stderr}"
        assert entry in result.stdout


def test_keystore_password_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTLS_P12_PASSWORD", "s3cret")
    pki = DevPKI(tmp_path)
    pki.init()
    leaf = pki.issue("orders")
    assert leaf.keystore_path is not None
    p12 = str(leaf.keystore_path)
    for password, accepted in (("s3cret", True), ("changeit", False)):
        result = subprocess.run(
            ["openssl", "pkcs12", "-in", p12, "-passin", f"pass:{password}", "-nokeys"],
            capture_output=True,
            check=False,
        )
        assert (result.returncode == 0) is accepted, password


# ---------------------------------------------------------------- idempotency, renew, revoke
def test_make_default_twice_keeps_ca_and_serials(pki: DevPKI) -> None:
    root_before = pki.ca_cert_path.read_bytes()
    serials = {n: pki.leaf(n).serial for n in DEFAULT_NAMES}
    leaves = pki.make_default()
    assert {leaf.name: leaf.serial for leaf in leaves} == serials
    assert pki.ca_cert_path.read_bytes() == root_before


def test_make_default_with_force_remakes_ca_and_leaves(pki: DevPKI) -> None:
    root_before = pki.ca_cert_path.read_bytes()
    serials = {n: pki.leaf(n).serial for n in DEFAULT_NAMES}
    leaves = pki.make_default(force=True)
    assert pki.ca_cert_path.read_bytes() != root_before
    assert all(leaf.serial != serials[leaf.name] for leaf in leaves)
    assert openssl_verify(pki, pki.leaf("orders").cert_path).returncode == 0


def test_issue_without_force_keeps_the_existing_certificate(pki: DevPKI) -> None:
    before = pki.leaf("orders").serial
    assert pki.issue("orders", force=False).serial == before
    assert pki.issue("orders").serial != before


def test_renew_issues_a_new_key_and_serial(pki: DevPKI) -> None:
    old = pki.leaf("orders")
    new = pki.renew("orders")
    assert new.serial != old.serial
    assert new.certificate.public_key() != old.certificate.public_key()
    on_disk = pki.leaf("orders")
    assert on_disk.serial == new.serial
    assert on_disk.key_pem() == new.key_pem()
    assert openssl_verify(pki, on_disk.cert_path).returncode == 0


def test_renew_with_keep_key_keeps_the_public_key(pki: DevPKI) -> None:
    old = pki.leaf("payments")
    new = pki.renew("payments", keep_key=True)
    assert new.serial != old.serial
    assert new.certificate.public_key() == old.certificate.public_key()


def test_renew_keeps_names_eku_and_key_type(pki: DevPKI) -> None:
    pki.issue(
        "legacy", dns=["legacy.local"], ips=["10.0.0.1"], client_only=True, key_type="rsa2048"
    )
    old, new = pki.leaf("legacy").certificate, pki.renew("legacy").certificate
    for kind in (x509.SubjectAlternativeName, x509.ExtendedKeyUsage):
        assert ext(new, kind).value == ext(old, kind).value
    public = new.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048


def test_renew_of_an_unknown_name_raises(pki: DevPKI) -> None:
    with pytest.raises(PKIError, match="nobody"):
        pki.renew("nobody")


def test_fresh_crl_is_empty_signed_by_intermediate_and_accepted(pki: DevPKI) -> None:
    crl = x509.load_pem_x509_crl(pki.crl_path.read_bytes())
    inter = x509.load_pem_x509_certificate(pki.intermediate_cert_path.read_bytes())
    assert crl.issuer == inter.subject
    assert crl.is_signature_valid(inter.public_key())  # type: ignore[arg-type]
    assert len(crl) == 0
    leaf = pki.leaf("orders")
    assert (
        openssl_verify(pki, leaf.cert_path, "-crl_check", "-CRLfile", str(pki.crl_path)).returncode
        == 0
    )


def test_revoke_puts_the_serial_in_the_crl_and_openssl_rejects_it(pki: DevPKI) -> None:
    revoked = pki.leaf("storefront")
    crl_path = pki.revoke("storefront")
    crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(pki.leaf("ops").serial) is None
    assert crl.next_update_utc is not None
    assert timedelta(days=6) < crl.next_update_utc - datetime.now(UTC) < timedelta(days=8)
    rejected = openssl_verify(pki, revoked.cert_path, "-crl_check", "-CRLfile", str(crl_path))
    assert rejected.returncode != 0
    assert "revoked" in rejected.stdout + rejected.stderr
    ok = openssl_verify(pki, pki.leaf("ops").cert_path, "-crl_check", "-CRLfile", str(crl_path))
    assert ok.returncode == 0


def test_revocations_survive_a_crl_rewrite_and_renewal(pki: DevPKI) -> None:
    first = pki.leaf("ops").serial
    pki.revoke("ops")
    pki.renew("ops")
    crl = x509.load_pem_x509_crl(pki.crl().read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(first) is not None
    assert crl.get_revoked_certificate_by_serial_number(pki.leaf("ops").serial) is None
    assert json.loads((pki.directory / "ca" / "revoked.json").read_text())["revoked"]


def test_trust_folder_follows_ca_and_crl_with_new_files_and_no_secrets(pki: DevPKI) -> None:
    trust = pki.trust_dir
    assert sorted(p.name for p in trust.iterdir()) == ["ca.crt", "chain-crl.pem", "crl.pem"]
    assert (trust / "ca.crt").read_bytes() == pki.ca_cert_path.read_bytes()
    inode_before = (trust / "crl.pem").stat().st_ino
    pki.revoke("storefront")
    assert (trust / "crl.pem").read_bytes() == pki.crl_path.read_bytes()
    crl = x509.load_pem_x509_crl((trust / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(pki.leaf("storefront").serial)
    # A new file, not an in-place write: readers never see half a CRL.
    assert (trust / "crl.pem").stat().st_ino != inode_before
    assert (trust / "chain-crl.pem").read_bytes() == pki.chain_crl_path.read_bytes()
    pki.make_default(force=True)
    assert (trust / "ca.crt").read_bytes() == pki.ca_cert_path.read_bytes()
    assert (trust / "crl.pem").read_bytes() == pki.crl_path.read_bytes()


def test_make_default_adds_the_chain_crl_to_a_pki_made_before_it_existed(pki: DevPKI) -> None:
    pki.revoke("storefront")
    pki.chain_crl_path.unlink()
    (pki.trust_dir / "chain-crl.pem").unlink()
    pki.make_default()
    crls = crls_in(pki.chain_crl_path.read_bytes())
    assert len(crls) == 2  # the intermediate's, then the root's
    assert crls[0].get_revoked_certificate_by_serial_number(pki.leaf("storefront").serial)
    assert (pki.trust_dir / "chain-crl.pem").read_bytes() == pki.chain_crl_path.read_bytes()


def test_the_chain_crl_satisfies_a_verifier_that_checks_every_ca(pki: DevPKI) -> None:
    """PostgreSQL's ssl_crl_file is OpenSSL's CRL_CHECK_ALL: crl.pem alone is not enough."""
    leaf = pki.leaf("orders")

    def verify(crl_file: Path) -> str:
        argv = ["openssl", "verify", "-crl_check_all", "-CAfile", str(pki.ca_cert_path),
                "-untrusted", str(pki.intermediate_cert_path), "-CRLfile", str(crl_file),
                str(leaf.cert_path)]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return done.stdout + done.stderr

    assert "unable to get certificate CRL" in verify(pki.crl_path)
    assert verify(pki.chain_crl_path).endswith(": OK\n")
    pki.revoke("orders")
    assert "certificate revoked" in verify(pki.chain_crl_path)


def test_trust_folder_is_added_to_a_pki_made_before_it_existed(pki: DevPKI) -> None:
    shutil.rmtree(pki.trust_dir)
    pki.make_default()
    assert (pki.trust_dir / "ca.crt").read_bytes() == pki.ca_cert_path.read_bytes()
    assert (pki.trust_dir / "crl.pem").read_bytes() == pki.crl_path.read_bytes()


# ---------------------------------------------------------------- test-only options
def test_expired_option_makes_a_certificate_that_ended_yesterday(pki: DevPKI) -> None:
    leaf = pki.issue("old", expired=True)
    assert leaf.certificate.not_valid_after_utc < datetime.now(UTC) - timedelta(hours=23)
    assert certificate_facts(leaf.certificate).days_left < 0
    result = openssl_verify(pki, leaf.cert_path)
    assert result.returncode != 0
    assert "expired" in result.stdout + result.stderr


def test_not_before_in_the_future_makes_a_not_yet_valid_certificate(pki: DevPKI) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    leaf = pki.issue("early", not_before=start, days=30)
    assert leaf.certificate.not_valid_before_utc == start.replace(microsecond=0)
    assert leaf.certificate.not_valid_after_utc == (start + timedelta(days=30)).replace(
        microsecond=0
    )
    result = openssl_verify(pki, leaf.cert_path)
    assert result.returncode != 0
    assert "not yet valid" in result.stdout + result.stderr


def test_sha1_option_makes_a_genuine_sha1_signature(pki: DevPKI) -> None:
    leaf = pki.issue("weak-hash", hash_algorithm="sha1", write=False)
    assert isinstance(leaf.certificate.signature_hash_algorithm, hashes.SHA1)
    inter = x509.load_pem_x509_certificate(pki.intermediate_cert_path.read_bytes())
    public = inter.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(
        leaf.certificate.signature,
        leaf.certificate.tbs_certificate_bytes,
        ec.ECDSA(hashes.SHA1()),  # noqa: S303 (raises InvalidSignature unless genuine)
    )
    assert certificate_facts(leaf.certificate).signature_hash == "sha1"


def test_rsa1024_option_makes_a_weak_key(pki: DevPKI) -> None:
    leaf = pki.issue("weak-key", key_type="rsa1024", write=False)
    public = leaf.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 1024
    ku = ext(leaf.certificate, x509.KeyUsage).value
    assert ku.key_encipherment
    assert certificate_facts(leaf.certificate).key_type == "RSA 1024"


def test_spiffe_id_override_sets_a_foreign_trust_domain(pki: DevPKI) -> None:
    leaf = pki.issue("orders", spiffe_id="spiffe://evil.example/orders", write=False)
    assert uri_sans(leaf.certificate) == ["spiffe://evil.example/orders"]
    assert leaf.spiffe_id == "spiffe://evil.example/orders"


def test_empty_spiffe_id_means_no_uri_san(pki: DevPKI) -> None:
    leaf = pki.issue("anonymous", spiffe_id="", dns=["localhost"], write=False)
    assert uri_sans(leaf.certificate) == []
    assert leaf.spiffe_id is None


def test_self_signed_option_is_not_signed_by_this_pki(pki: DevPKI) -> None:
    leaf = pki.issue("stranger", self_signed=True)
    assert leaf.certificate.issuer == leaf.certificate.subject
    leaf.certificate.verify_directly_issued_by(leaf.certificate)
    assert x509.load_pem_x509_certificates(leaf.chain_path.read_bytes()) == [leaf.certificate]
    assert openssl_verify(pki, leaf.cert_path).returncode != 0


def test_is_ca_option_makes_a_ca_certificate(pki: DevPKI) -> None:
    leaf = pki.issue("rogue-ca", is_ca=True, write=False)
    assert ext(leaf.certificate, x509.BasicConstraints).value.ca
    assert certificate_facts(leaf.certificate).is_ca


def test_eku_and_common_name_overrides(pki: DevPKI) -> None:
    leaf = pki.issue(
        "server-only", eku=[ExtendedKeyUsageOID.SERVER_AUTH], common_name="cn-only", write=False
    )
    assert list(ext(leaf.certificate, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert leaf.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "cn-only"
    )


def test_write_false_leaves_no_files(pki: DevPKI) -> None:
    leaf = pki.issue("ghost", write=False)
    assert not leaf.cert_path.exists()
    assert not leaf.key_path.exists()
    assert leaf.keystore_path is None
    assert b"PRIVATE KEY" in leaf.key_pem()


@pytest.mark.parametrize(
    "trust_domain", ["Demo.internal", "spiffe://demo.internal", "demo.internal:443", "a/b", ""]
)
def test_malformed_trust_domain_is_refused(tmp_path: Path, trust_domain: str) -> None:
    with pytest.raises(PKIError, match="trust domain"):
        DevPKI(tmp_path, trust_domain)


def test_issue_without_a_ca_says_to_run_make_certs(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="make certs"):
        DevPKI(tmp_path).issue("orders")


# ---------------------------------------------------------------- facts
def test_certificate_facts_describe_a_server_certificate(default_pki: DevPKI) -> None:
    facts = default_pki.inspect("orders")
    assert facts.spiffe_id == f"spiffe://{DEFAULT_TRUST_DOMAIN}/orders"
    assert facts.dns_names == ("orders", "localhost")
    assert facts.ip_addresses == ("127.0.0.1",)
    assert facts.key_type == "ECDSA P-256"
    assert facts.eku == ("serverAuth", "clientAuth")
    assert facts.days_left in (363, 364)
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", facts.sha256_fingerprint)
    assert facts.not_after.endswith("Z")
    assert datetime.fromisoformat(facts.not_after)
    assert int(facts.serial, 16) == default_pki.leaf("orders").serial
    assert not facts.is_ca
    assert json.loads(json.dumps(facts.to_dict()))["dns_names"] == ["orders", "localhost"]
    assert default_pki.inspect("ca").is_ca
    assert default_pki.inspect(str(default_pki.intermediate_cert_path)).is_ca


# ---------------------------------------------------------------- CLI
@pytest.fixture
def cli_dir(tmp_path: Path) -> Path:
    return tmp_path / "pki"


def test_cli_make_default_then_inspect_json(cli_dir: Path) -> None:
    made = devpki_cli("--dir", str(cli_dir), "make-default")
    assert made.returncode == 0, made.stderr
    assert "PRIVATE KEY" not in made.stdout
    assert str(cli_dir / "orders" / "key.pem") in made.stdout
    shown = devpki_cli("--dir", str(cli_dir), "inspect", "orders", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["spiffe_id"] == f"spiffe://{DEFAULT_TRUST_DOMAIN}/orders"
    text = devpki_cli("--dir", str(cli_dir), "inspect", "orders")
    assert "SPIFFE ID" in text.stdout
    assert "days left" in text.stdout


def test_cli_issue_of_an_existing_name_keeps_it_and_says_so(cli_dir: Path) -> None:
    assert devpki_cli("--dir", str(cli_dir), "make-default").returncode == 0
    before = (cli_dir / "orders" / "cert.pem").read_bytes()
    kept = devpki_cli("--dir", str(cli_dir), "issue", "orders", "--dns", "orders")
    assert kept.returncode == 0
    assert "kept" in kept.stdout
    assert "--force" in kept.stdout
    assert (cli_dir / "orders" / "cert.pem").read_bytes() == before
    forced = devpki_cli("--dir", str(cli_dir), "issue", "orders", "--force")
    assert forced.returncode == 0
    assert (cli_dir / "orders" / "cert.pem").read_bytes() != before


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown-name", "no certificate named 'nobody'"),
        ("missing-ca", "make certs"),
        ("unwritable-dir", "cannot create the folder"),
        ("bad-trust-domain", "trust domain"),
        ("bad-not-before", "ISO 8601"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path, case: str, expected: str) -> None:
    made = tmp_path / "made"
    assert devpki_cli("--dir", str(made), "init").returncode == 0
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    args = {
        "unknown-name": ["--dir", str(made), "inspect", "nobody"],
        "missing-ca": ["--dir", str(tmp_path / "empty"), "issue", "orders"],
        "unwritable-dir": ["--dir", str(a_file / "pki"), "init"],
        "bad-trust-domain": ["--dir", str(made), "--trust-domain", "spiffe://Demo", "init"],
        "bad-not-before": ["--dir", str(made), "issue", "x", "--not-before", "yesterday"],
    }[case]
    result = devpki_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("devpki: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
