"""Fuzzing: generated requests against both services, generated certificates against identity.

schemathesis reads each service's OpenAPI schema (served only over mTLS) and
sends valid and invalid requests as the principal each API is for: none may
get a 5xx or take the service down. hypothesis builds certificates with odd
contents (many or very long SANs, URIs that are not SPIFFE, unicode, no SAN,
CA flags, broken SAN bytes); identity extraction must only ever grant a name
for exactly one well-formed SPIFFE ID of our trust domain in a leaf, and must
fail with IdentityError, never anything else.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from ipaddress import IPv4Address
from typing import Any

import pytest
import requests
import schemathesis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from devpki import DevPKI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from mtls.identity import IdentityError, Principal, connection_identity
from mtls.settings import TLSSettings
from schemathesis import GenerationMode
from service_pair import ORDER, ServicePair

TRUST_DOMAIN = "demo.internal"
TLS_SETTINGS = TLSSettings(trust_domain=TRUST_DOMAIN)
CALLER = {"orders": "storefront", "payments": "orders"}  # the principal each API serves
EXAMPLES_PER_OPERATION = 50
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,  # no .hypothesis folder in the repo
    suppress_health_check=list(HealthCheck),
)


# ----------------------------------------------------------------- the APIs (schemathesis)


def _with_known_currency(case: Any) -> Any:
    """Generated currencies are random strings; half the runs need real ones to reach a charge."""
    if isinstance(case.body, dict):
        case.body["currency"] = ORDER["currency"]
    return case


def strategies(operation: Any) -> list[Any]:
    found = [operation.as_strategy(mode) for mode in GenerationMode]
    if (operation.method.upper(), operation.path) == ("POST", "/orders"):
        found.append(operation.as_strategy(GenerationMode.POSITIVE).map(_with_known_currency))
    return found


def fuzz(strategy: Any, send: Callable[[Any], int]) -> None:
    """Run `send` on up to EXAMPLES_PER_OPERATION cases; some operations allow fewer."""

    @FUZZ_SETTINGS
    @given(case=strategy)
    def run(case: Any) -> None:
        send(case)

    with contextlib.suppress(Unsatisfiable):  # e.g. no invalid value for a free-form path part
        run()


@pytest.mark.parametrize("service", CALLER)
def test_fuzzed_requests_never_get_a_5xx_nor_crash_the_service(
    service: str, pair: ServicePair
) -> None:
    server = pair.orders if service == "orders" else pair.payments
    base_url = pair.orders_url if service == "orders" else pair.payments_url
    leaf = pair.pki_dir / CALLER[service]
    tls = {
        "verify": str(pair.pki_dir / "ca.crt"),
        "cert": (str(leaf / "chain.pem"), str(leaf / "key.pem")),
    }
    with pair.client(CALLER[service]) as client:
        raw_schema = client.get(base_url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw_schema)
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []

    with requests.Session() as session:

        def send(case: Any) -> int:
            response = case.call(base_url=base_url, session=session, timeout=15, **tls)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")
            return int(response.status_code)

        for result in schema.get_all_operations():
            for strategy in strategies(result.ok()):
                fuzz(strategy, send)

    assert server is not None
    errors = [line for line in server.events() if line.get("level") in ("error", "critical")]
    assert server_errors == [], server_errors
    assert errors == [], errors
    assert server.proc.poll() is None, f"{service} died under fuzzing:\n{server.output()}"
    assert sum(statuses.values()) >= 200, statuses  # the fuzzer really ran
    assert statuses[422] > 0, "no invalid request was generated"
    assert statuses[200] + statuses[201] > 0, "no request got through to a handler"


# --------------------------------------------------------- certificates (hypothesis)

_KEY = ec.generate_private_key(ec.SECP256R1())  # one key for every generated certificate
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
ascii_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
any_text = st.text(max_size=40)
segments = st.one_of(
    st.sampled_from(["storefront", "orders", "ops", ".", "..", "", "a b", "x%2F..", "ståre"]),
    ascii_text,
    any_text,
)
spiffe_like = st.builds(
    lambda scheme, domain, path: f"{scheme}{domain}/{'/'.join(path)}",
    st.sampled_from(["spiffe://", "SPIFFE://", "Spiffe://", "spiffe:/", "spiffe:"]),
    st.sampled_from(
        [
            TRUST_DOMAIN,
            TRUST_DOMAIN.upper(),
            "evil.example",
            f"{TRUST_DOMAIN}.evil",
            "",
            "démo.internal",
        ]
    )
    | st.sampled_from([f"{TRUST_DOMAIN}:443", f"user@{TRUST_DOMAIN}"]),
    st.lists(segments, min_size=0, max_size=4),
)
other_uris = st.sampled_from(
    ["https://demo.internal/storefront", "urn:spiffe:demo.internal:storefront", "mailto:a@b"]
) | st.builds(lambda text: f"https://{text}", any_text)
long_uris = st.integers(min_value=256, max_value=4096).map(
    lambda n: f"spiffe://{TRUST_DOMAIN}/{'a' * n}"
)
good_spiffe = st.sampled_from(["storefront", "orders", "ops", "team/app", "a.b_c-d"]).map(
    lambda path: f"spiffe://{TRUST_DOMAIN}/{path}"
)
uris = st.one_of(good_spiffe, spiffe_like, other_uris, long_uris)
general_names = st.one_of(
    uris.map(x509.UniformResourceIdentifier._init_without_validation),
    st.from_regex(r"[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63}){0,3}", fullmatch=True).map(x509.DNSName),
    st.builds(lambda n: x509.RFC822Name(f"user{n}@example.com"), st.integers(0, 9)),
    st.builds(lambda n: x509.IPAddress(IPv4Address(n)), st.integers(0, 2**32 - 1)),
)
san_lists = st.one_of(
    st.none(),  # no SAN extension at all
    st.lists(general_names, min_size=0, max_size=8),
    st.lists(general_names, min_size=50, max_size=120),  # many
    st.just(b"\x30\x05\x86\x03ab"),  # a SAN whose bytes do not parse (length lies)
)
# A CN holds 1 to 64 bytes of UTF-8.
common_names = st.text(min_size=1, max_size=64).filter(lambda cn: len(cn.encode()) <= 64)


def _key_usage(is_ca: bool) -> x509.KeyUsage:
    """What an X.509-SVID carries (a leaf: digitalSignature; a CA: keyCertSign too)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        encipher_only=False,
        decipher_only=False,
    )


@st.composite
def certificates(draw: st.DrawFn) -> tuple[str, x509.Certificate]:
    return certificate(draw(san_lists), draw(st.booleans()), draw(common_names))


def certificate(
    sans: list[x509.GeneralName] | bytes | None, is_ca: bool, common_name: str
) -> tuple[str, x509.Certificate]:
    """A self-signed certificate with these SANs (bytes: a raw, maybe broken, SAN)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(_key_usage(is_ca), critical=True)
    )
    if isinstance(sans, bytes):
        raw = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, sans)
        builder = builder.add_extension(raw, critical=False)
    elif sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(_KEY, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), cert


@cache
def _uris(pem: str) -> list[str] | None:
    """The URI SANs as written, or None when the SAN cannot be read."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    except ValueError:
        return None
    if not isinstance(san, x509.SubjectAlternativeName):
        return None
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def deserves_a_name(pem: str, cert: x509.Certificate) -> str | None:
    """The only grant allowed (X.509-SVID): exactly one URI SAN, a SPIFFE ID of our trust
    domain with a clean path and at most 2048 bytes, in a leaf."""
    uris = _uris(pem)
    if uris is None or cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
        return None
    if len(uris) != 1 or not uris[0].startswith("spiffe://") or len(uris[0].encode()) > 2048:
        return None
    domain, _, path = uris[0][9:].partition("/")
    parts = path.split("/")
    clean = all(_SEGMENT.fullmatch(part) and part not in (".", "..") for part in parts)
    return path if domain == TRUST_DOMAIN and path and clean else None


def principal_from_pem(pem: str) -> Principal:
    """The identity the server would give a connection presenting this certificate."""
    try:
        der = ssl.PEM_cert_to_DER_cert(pem)
    except ValueError:
        der = pem.encode()  # not even PEM: the server's parser sees these bytes
    identity = connection_identity(der, TLS_SETTINGS)
    if isinstance(identity, IdentityError):
        raise identity
    return identity


@settings(max_examples=200, deadline=None, database=None)
@given(certificates())
def test_odd_certificates_never_crash_identity_nor_grant_a_wrong_name(
    generated: tuple[str, x509.Certificate],
) -> None:
    pem, cert = generated
    try:
        principal = principal_from_pem(pem)
    except IdentityError:
        principal = None
    expected = deserves_a_name(pem, cert)
    assert (principal.name if principal else None) == expected, (pem, principal)
    if principal is not None:
        assert principal.spiffe_id is not None
        assert principal.spiffe_id == f"spiffe://{TRUST_DOMAIN}/{expected}"


def test_one_good_spiffe_id_among_many_odd_sans_is_granted_only_in_a_leaf() -> None:
    """The property above must be able to grant: odd neighbours do not hide a good ID."""
    sans: list[x509.GeneralName] = [x509.DNSName(f"{'a' * 60}.{n}.example") for n in range(100)]
    sans += [x509.UniformResourceIdentifier(f"spiffe://{TRUST_DOMAIN}/storefront")]
    leaf_pem, _ = certificate(sans, False, "störefront ☃")
    ca_pem, _ = certificate(sans, True, "störefront ☃")

    principal = principal_from_pem(leaf_pem)
    assert principal.name == "storefront"
    with pytest.raises(IdentityError, match="CA certificate"):
        principal_from_pem(ca_pem)


def test_garbage_instead_of_a_certificate_is_an_identity_error() -> None:
    for pem in ("", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "x" * 5000):
        with pytest.raises(IdentityError):
            principal_from_pem(pem)


ODD_OVER_TLS = {
    "many long DNS SANs, an https URI, a unicode CN": {
        "spiffe_id": "https://demo.internal/storefront",
        "common_name": "störefront ☃",
        "dns": [f"{'a' * 60}.{n}.example" for n in range(100)],
    },
    "a percent-encoded unicode SPIFFE path": {
        "spiffe_id": "spiffe://demo.internal/st%C3%B3refront"
    },
    "no SAN at all": {"spiffe_id": "", "common_name": "storefront"},
}


@pytest.mark.parametrize("odd", list(ODD_OVER_TLS))
def test_odd_certificate_from_our_ca_passes_the_handshake_but_gets_no_identity(
    odd: str, default_pki: DevPKI, pair: ServicePair
) -> None:
    leaf = default_pki.issue(
        f"odd-{list(ODD_OVER_TLS).index(odd)}", client_only=True, **ODD_OVER_TLS[odd]
    )
    before = pair.query("orders", "SELECT COUNT(*) FROM orders")[0][0]

    with pair.client(None, cert=leaf.chain_path, key=leaf.key_path) as client:
        answer = client.post(pair.orders_url + "/orders", json=ORDER)

    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"]["error"] == "no usable identity"
    assert pair.query("orders", "SELECT COUNT(*) FROM orders")[0][0] == before
    assert pair.orders is not None
    assert pair.orders.proc.poll() is None
