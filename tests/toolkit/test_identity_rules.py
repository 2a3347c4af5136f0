"""X.509-SVID conformance (SPIFFE X509-SVID §2, §4.3, §5.2), CN mode, and refusals that explain.

One implementation (mtls.svid) decides whether a client certificate carries a
usable identity; the server, /health and the doctor all ask it, so the
doctor's verdict agrees with the server for every case below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import EchoServers
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from devpki import DevPKI, Leaf
from mtls.doctor import Options, diagnose
from mtls.doctor.report import render

from harness.clients import client_context
from harness.processes import ServerProcess

STOREFRONT = "spiffe://demo.internal/storefront"


@dataclass(frozen=True)
class SvidCase:
    id: str
    options: dict[str, Any]
    reason: str  # words the 403's reason must contain


SVID_CASES = [
    SvidCase("second-uri", {"uris": [STOREFRONT, "https://storefront.example/"]},
             "exactly one URI SAN"),
    SvidCase("upper-scheme", {"uris": ["SPIFFE://demo.internal/storefront"]}, "spiffe://"),
    SvidCase("upper-domain", {"uris": ["spiffe://Demo.Internal/storefront"]}, "trust domain"),
    SvidCase("port", {"uris": ["spiffe://demo.internal:8443/storefront"]}, "port"),
    SvidCase("userinfo", {"uris": ["spiffe://mallory@demo.internal/storefront"]}, "userinfo"),
    SvidCase("query", {"uris": [STOREFRONT + "?role=ops"]}, "query"),
    SvidCase("fragment", {"uris": [STOREFRONT + "#ops"]}, "fragment"),
    SvidCase("dot-segment", {"uris": ["spiffe://demo.internal/./storefront"]}, "segment"),
    SvidCase("empty-segment", {"uris": ["spiffe://demo.internal//storefront"]}, "segment"),
    SvidCase("too-long", {"uris": [STOREFRONT + "/" + "a" * 2100]}, "2048"),
    SvidCase("no-digital-signature",
             {"key_usage": {"digital_signature": False, "key_agreement": True}},
             "digitalSignature"),
    SvidCase("crl-sign", {"key_usage": {"crl_sign": True}}, "cRLSign"),
    SvidCase("ca-true", {"is_ca": True}, "CA certificate"),
]  # fmt: skip


def mint(pki: DevPKI, case: SvidCase) -> Leaf:
    return pki.issue(f"svid-{case.id}", client_only=True, spiffe_id=STOREFRONT, **case.options)


def call(pki: DevPKI, leaf: Leaf, url: str) -> httpx.Response:
    context = client_context(pki.directory, None, cert=leaf.chain_path, key=leaf.key_path)
    with httpx.Client(verify=context, timeout=10) as client:
        return client.get(url)


@pytest.mark.parametrize("case", SVID_CASES, ids=lambda case: case.id)
def test_certificate_breaking_the_x509_svid_rules_is_refused_with_403_and_the_doctor_agrees(
    case: SvidCase, default_pki: DevPKI, echo: ServerProcess
) -> None:
    leaf = mint(default_pki, case)

    response = call(default_pki, leaf, echo.url + "/whoami")
    health = call(default_pki, leaf, echo.url + "/health")
    report = diagnose(
        Options(
            echo.url + "/whoami",
            cert=leaf.chain_path,
            key=leaf.key_path,
            ca=default_pki.ca_cert_path,
        )
    )

    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "no usable identity"
    assert case.reason in detail["reason"], detail
    assert health.status_code == 403, "health is for authenticated principals only"
    assert report.verdict.cause == "identity_refused", render(report)
    assert not report.verdict.ok
    local = [check for check in report.local if check.status == "fail"]
    assert any(case.reason in check.detail for check in local), render(report)


def test_a_conforming_svid_is_served_and_the_doctor_says_ok(
    default_pki: DevPKI, echo: ServerProcess
) -> None:
    leaf = default_pki.leaf("storefront")
    report = diagnose(
        Options(echo.url + "/whoami", leaf.chain_path, leaf.key_path, default_pki.ca_cert_path)
    )
    assert call(default_pki, leaf, echo.url + "/whoami").status_code == 200
    assert report.verdict.ok, render(report)
    assert "principal storefront" in render(report)


def test_the_doctor_names_the_whole_spiffe_path_as_the_principal(
    default_pki: DevPKI, echo: ServerProcess
) -> None:
    leaf = default_pki.issue("nested", client_only=True, uris=[STOREFRONT + "/eu/1"])
    report = diagnose(Options(echo.url + "/health", leaf.chain_path, leaf.key_path,
                              default_pki.ca_cert_path))  # fmt: skip
    assert call(default_pki, leaf, echo.url + "/health").status_code == 200
    assert call(default_pki, leaf, echo.url + "/whoami").json()["detail"]["principal"] == (
        "storefront/eu/1"
    )
    assert "principal storefront/eu/1" in render(report), render(report)


def test_identity_refusal_audit_line_names_the_peer_and_the_certificate(
    default_pki: DevPKI, echo: ServerProcess
) -> None:
    leaf = mint(default_pki, SVID_CASES[0])
    response = call(default_pki, leaf, echo.url + "/whoami")
    assert response.status_code == 403
    line = echo.wait_for_event("identity refused", serial=f"{leaf.serial:x}")
    assert line["peer"].startswith("127.0.0.1:")
    assert line["subject"] == leaf.certificate.subject.rfc4514_string()
    assert line["issuer"] == leaf.certificate.issuer.rfc4514_string()
    assert line["reason"] == response.json()["detail"]["reason"]


# ------------------------------------------------------------------------- CN mode


@pytest.fixture(scope="module")
def cn_server(default_pki: DevPKI, module_echo_servers: EchoServers) -> ServerProcess:
    """Principal from the CN attribute, with the default MTLS_CN_REGEX."""
    env = {"MTLS_PRINCIPAL_SOURCE": "cn"}
    return module_echo_servers.start(default_pki, env=env)


def storefront_cn_plus(pki: DevPKI, name: str, oid: x509.ObjectIdentifier, value: str) -> Leaf:
    """A client leaf with CN=storefront and one more subject attribute after it."""
    return pki.issue(name, client_only=True, common_name="storefront",
                     extra_subject=[(oid, value)])  # fmt: skip


def test_cn_mode_is_not_fooled_by_an_escaped_cn_inside_another_attribute(
    default_pki: DevPKI, cn_server: ServerProcess
) -> None:
    # RFC 4514: OU=x\,CN=ops,CN=storefront,O=...: Spring's regex over it finds "ops".
    leaf = storefront_cn_plus(default_pki, "cn-trick", NameOID.ORGANIZATIONAL_UNIT_NAME, "x,CN=ops")
    assert "CN=ops" in leaf.certificate.subject.rfc4514_string()
    metrics = call(default_pki, leaf, cn_server.url + "/metrics")  # ops only
    whoami = call(default_pki, leaf, cn_server.url + "/whoami")
    assert metrics.status_code == 403
    assert metrics.json()["detail"]["principal"] == "storefront"
    assert whoami.json()["principal"] == "storefront"


def test_cn_mode_refuses_a_subject_with_two_cn_attributes(
    default_pki: DevPKI, cn_server: ServerProcess
) -> None:
    leaf = storefront_cn_plus(default_pki, "two-cns", NameOID.COMMON_NAME, "ops")
    response = call(default_pki, leaf, cn_server.url + "/whoami")
    assert response.status_code == 403
    assert "exactly one CN" in response.json()["detail"]["reason"]


def test_cn_regex_over_the_dn_string_is_refused_at_start_up_with_the_reason() -> None:
    from mtls import TLSSettings
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="value of the CN attribute"):
        TLSSettings(principal_source="cn", cn_regex=r"CN=(.*?)(?:,|$)")


# ------------------------------------------------------------- refusals that explain


def test_doctor_says_which_certificates_the_client_sends(
    default_pki: DevPKI, echo: ServerProcess
) -> None:
    leaf = default_pki.leaf("storefront")
    for path, sent in ((leaf.cert_path, "the leaf only"), (leaf.chain_path, "leaf + 1 CA")):
        report = diagnose(Options(echo.url + "/whoami", path, leaf.key_path,
                                  default_pki.ca_cert_path))  # fmt: skip
        text = render(report)
        sends = [check.detail for check in report.local if check.label == "client sends"]
        assert sends, text
        assert sends[0].startswith(sent), text
        assert report.verdict.ok, text  # the server completes a leaf-only chain itself


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "extended key usage lacks clientAuth"),
        ({"key_usage": {"digital_signature": False, "key_encipherment": True}},
         "key usage lacks digitalSignature"),
    ],
    ids=["eku", "key-usage"],
)  # fmt: skip
def test_wrong_purpose_says_whether_key_usage_or_extended_key_usage_is_wrong(
    options: dict[str, Any], words: str, default_pki: DevPKI, echo: ServerProcess
) -> None:
    leaf = default_pki.issue(f"purpose-{words[:3]}", client_only=True, **options)
    report = diagnose(Options(echo.url + "/whoami", leaf.chain_path, leaf.key_path,
                              default_pki.ca_cert_path))  # fmt: skip
    assert report.verdict.cause == "wrong_purpose", render(report)
    assert words in report.verdict.summary, render(report)
    refusal = echo.wait_for_event("tls handshake refused", reason="wrong_purpose")
    assert "key usage" in refusal["cause"]
    assert "extended key usage" in refusal["cause"]
