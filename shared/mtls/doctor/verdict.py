"""The doctor's verdict: one cause, in plain words, from everything it saw.

A server that refuses a client certificate under TLS 1.3 says nothing to the
client, so a refusal after the handshake is explained by the local evidence
(revoked, expired, another CA, no clientAuth), strongest first.
"""

from __future__ import annotations

from mtls.doctor.local import LocalFacts
from mtls.doctor.remote import RemoteFacts
from mtls.doctor.report import Verdict

SERVER_EXPIRED = "renew the server's certificate on the server: make renew NAME=<server>"
SERVER_UNTRUSTED = (
    "--ca must hold the CA that signed the server's certificate: is the server using "
    "another PKI (another `make certs`, or make e2e's folder)?"
)
RENEW = "renew it: make renew NAME=<name> (python -m devpki renew <name>)"


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
    if local.purpose_problem:
        return Verdict(
            "wrong_purpose",
            f"our certificate may not act as a TLS client: {local.purpose_problem}",
            "reissue it with clientAuth and digitalSignature "
            "(python -m devpki issue <name> --client-only)",
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
    if step == "server":
        return Verdict(
            f"server_{remote.reason}",
            failed.detail if failed else "the server's certificate did not verify",
            SERVER_EXPIRED if remote.reason == "expired" else SERVER_UNTRUSTED,
        )
    if failed is not None:
        return Verdict(remote.reason or step, failed.detail, failed.fix)
    return _http_verdict(remote)
