"""The certificate doctor: `python -m mtls doctor URL --cert --key --ca`.

It checks the local files, then walks the connection step by step, and ends
with one verdict in plain words: what works, what fails and what to change.
A server that refuses a client certificate under TLS 1.3 says nothing to the
client, so the verdict combines where the connection stopped with what the
local files show (expired, another CA, revoked, foreign trust domain).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls.doctor_local import LocalFacts, examine
from mtls.doctor_remote import Probe, RemoteFacts, walk
from mtls.doctor_report import Report, Verdict
from mtls.settings import DEFAULT_TRUST_DOMAIN


class DoctorError(Exception):
    """The doctor cannot start (no CA bundle to verify the server with)."""


RENEW = "renew it: make renew NAME=<name> (python -m devpki renew <name>)"


@dataclass(frozen=True)
class Options:
    url: str
    cert: Path | None = None
    key: Path | None = None
    ca: Path = Path("certs/generated/ca.crt")
    crl: Path | None = None
    path: str | None = None
    server_name: str | None = None
    max_tls: str = "1.3"
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    timeout: float = 5.0


def _client_refusal(local: LocalFacts | None, remote: RemoteFacts) -> Verdict:
    """Why the server refused our certificate: the local evidence, strongest first."""
    if local is None:
        return Verdict(
            "certificate_required",
            "the server requires a client certificate and we sent none",
            "pass --cert and --key (curl: --cert chain.pem --key "
            "key.pem; httpx: an SSLContext with load_cert_chain, as verify=)",
        )
    if local.revoked:
        return Verdict(
            "revoked",
            "our certificate is revoked (its serial is in the CRL)",
            "issue a new certificate: make renew NAME=<name>",
        )
    if local.expired:
        return Verdict("expired", "our certificate has expired", RENEW)
    if local.not_yet_valid:
        return Verdict("not_yet_valid", "our certificate is not valid yet", "check the clocks")
    if local.untrusted_issuer:
        return Verdict(
            "unknown_ca",
            f"our certificate is signed by {local.untrusted_issuer}, "
            "a CA the server does not trust",
            "get a certificate from the server's "
            "CA (python -m devpki issue <name> --client-only), or add our CA to the "
            "server's MTLS_CA bundle",
        )
    if local.no_client_auth:
        return Verdict(
            "wrong_purpose",
            "our certificate lacks the clientAuth usage",
            "reissue it with clientAuth (python -m devpki issue <name> --client-only)",
        )
    return Verdict(
        "client_certificate_refused",
        "the server refused our certificate and the "
        "local files show no reason (revoked? pass --crl)",
        "read the server's 'tls handshake refused' log line: its reason names the cause",
    )


def _http_verdict(remote: RemoteFacts) -> Verdict:
    body = remote.body if isinstance(remote.body, dict) else {}
    found = body.get("detail")
    detail: dict[str, object] = found if isinstance(found, dict) else {}
    if remote.status is not None and remote.status < 400:
        return Verdict("ok", f"mutual TLS works and the path answered HTTP {remote.status}", "")
    if detail.get("error") == "no usable identity":
        return Verdict(
            "identity_refused",
            f"the server accepts our certificate but finds no "
            f"identity in it: {detail.get('reason')}",
            "issue the certificate with "
            "the SPIFFE ID spiffe://<trust domain>/<name> of the server's "
            "MTLS_TRUST_DOMAIN",
        )
    if detail.get("error") == "forbidden":
        return Verdict(
            "forbidden",
            str(detail.get("message")),
            "call a route the policy "
            "allows this principal (README: identities and policy), use the "
            "identity that is allowed, or change the route's allow(...)",
        )
    return Verdict(
        f"http_{remote.status}",
        f"the server answered HTTP {remote.status}: {str(remote.body)[:200]}",
        "see the server's log for this request",
    )


def verdict(local: LocalFacts | None, remote: RemoteFacts) -> Verdict:
    """One cause from where the walk stopped and what the local files showed."""
    failed = next((c for c in remote.checks if c.status == "fail"), None)
    step = remote.stopped_at
    if local is not None and not local.usable:
        return Verdict(
            "local_files",
            "our certificate or key cannot be used",
            next(c.fix for c in local.checks if c.status == "fail"),
        )
    if step == "client":
        return _client_refusal(local, remote)
    if step == "version":
        return Verdict(
            "protocol_version",
            "the server does not accept the TLS version we "
            "offered (ours services require TLS 1.3 by default)",
            "let the client use TLS 1.3, or set MTLS_MIN_TLS_VERSION=1.2 on the server",
        )
    if step == "server" and remote.reason == "hostname_mismatch":
        return Verdict(
            "hostname_mismatch",
            f"the server certificate does not name the host "
            f"we connect to; it names {', '.join(remote.server_names)}",
            "connect with one of those names, or reissue the server's certificate "
            "with this name in its SANs (python -m devpki issue <server> --dns ...)",
        )
    if failed is not None:
        return Verdict(remote.reason or step, failed.detail, failed.fix)
    return _http_verdict(remote)


def _trusted(ca: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise DoctorError(
            f"cannot read the CA bundle {ca} ({exc}); pass --ca with the PEM ca.crt "
            "that signed the server (make certs writes certs/generated/ca.crt)"
        ) from None


def diagnose(options: Options) -> Report:
    """Local checks (when a certificate is given), the connection walk, and the verdict."""
    parts = urlsplit(options.url)
    host, port = parts.hostname or "localhost", parts.port or 443
    cas = _trusted(options.ca)
    crl = options.crl or (options.ca.parent / "crl.pem")
    local = None
    if options.cert is not None:
        local = examine(options.cert, options.key or options.cert, cas, crl, options.trust_domain)
    path = options.path or parts.path or "/health"
    probe = Probe(
        host=host,
        port=port,
        path=path,
        server_name=options.server_name or host,
        ca_pem="".join(ca.public_bytes(Encoding.PEM).decode() for ca in cas),
        cert=str(options.cert) if local and local.usable else None,
        key=str(options.key) if local and local.usable else None,
        max_version=options.max_tls,
        timeout=options.timeout,
    )
    remote = walk(probe)
    who = f" with {options.cert}" if options.cert else " without a client certificate"
    report = Report(f"GET {options.url.rstrip('/')}{'' if parts.path else path}{who}")
    report.local, report.connection = (local.checks if local else []), remote.checks
    report.verdict = verdict(local, remote)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="https://host:port[/path]")
    parser.add_argument("--cert", type=Path, help="client certificate chain (chain.pem)")
    parser.add_argument("--key", type=Path, help="its private key (key.pem)")
    default_ca = os.environ.get("MTLS_CA") or str(
        Path(os.environ.get("MTLS_PKI_DIR") or "certs/generated") / "ca.crt"
    )
    parser.add_argument("--ca", type=Path, default=Path(default_ca), help="trusted CAs (ca.crt)")
    parser.add_argument("--crl", type=Path, help="CRL to check our serial (default: next to --ca)")
    parser.add_argument("--path", help="path to GET (default: the URL's, else /health)")
    parser.add_argument("--server-name", help="name to verify and send as SNI (default: host)")
    parser.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3")
    parser.add_argument(
        "--trust-domain", default=os.environ.get("MTLS_TRUST_DOMAIN") or DEFAULT_TRUST_DOMAIN
    )
    parser.add_argument("--timeout", type=float, default=5.0)


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        url=args.url,
        cert=args.cert,
        key=args.key,
        ca=args.ca,
        crl=args.crl,
        path=args.path,
        server_name=args.server_name,
        max_tls=args.tls_max,
        trust_domain=args.trust_domain,
        timeout=args.timeout,
    )
