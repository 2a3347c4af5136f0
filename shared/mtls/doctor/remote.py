"""The doctor's connection, one step at a time: name, TCP, TLS, server, client certificate, HTTP.

Each step that fails stops the walk and says which step it was, so the verdict
can name the cause. Under TLS 1.3 the client finishes its handshake before the
server has checked the client certificate: a refusal only shows on the first
read (an EOF or a reset, since our server closes without an alert), which is
why the walk always sends one request.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import h11
from cryptography import x509

from mtls import certfacts
from mtls.contexts import diagnostic_context
from mtls.doctor.http import NoAnswer, get
from mtls.doctor.report import Check
from mtls.errors import explain

REFUSED_ON_READ = (ssl.SSLError, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass(frozen=True)
class Probe:
    """Where to connect and with what."""

    host: str
    port: int
    path: str
    server_name: str
    ca_pem: str
    cert: str | None = None
    key: str | None = None
    key_password: str | None = None
    max_version: str = "1.3"
    timeout: float = 5.0


@dataclass
class RemoteFacts:
    checks: list[Check] = field(default_factory=list)
    stopped_at: str = ""  # the step that failed: resolve, connect, server, version, client, ...
    reason: str = ""  # explain()'s slug of the failure, when there was one
    server_names: list[str] = field(default_factory=list)
    status: int | None = None
    body: Any = None

    def add(self, status: str, label: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(status, label, detail, fix))  # type: ignore[arg-type]

    def stop(self, step: str, label: str, detail: str, fix: str = "", reason: str = "") -> None:
        self.stopped_at, self.reason = step, reason
        self.add("fail", label, detail, fix)


def _names(cert: x509.Certificate) -> list[str]:
    names = certfacts.subject_names(cert)
    return [f"DNS:{name}" for name in names.dns] + [f"IP:{ip}" for ip in names.ips]


def _server_certificate(probe: Probe, address: str) -> x509.Certificate | None:
    """The server's leaf without verifying it, to show what it is when verification fails."""
    context = diagnostic_context("", verify=False)
    try:
        with (
            socket.create_connection((address, probe.port), timeout=probe.timeout) as raw,
            context.wrap_socket(raw, server_hostname=probe.server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return x509.load_der_x509_certificate(der) if der else None


def _resolve(probe: Probe, facts: RemoteFacts) -> list[str]:
    try:
        infos = socket.getaddrinfo(probe.host, probe.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        facts.stop(
            "resolve",
            "name resolution",
            f"{probe.host}: {exc.strerror}",
            "check the host name, /etc/hosts or DNS",
            "name_resolution",
        )
        return []
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    facts.add("ok", "name resolution", f"{probe.host} -> {', '.join(addresses)}")
    return addresses


def _connect(probe: Probe, addresses: list[str], facts: RemoteFacts) -> socket.socket | None:
    errors = []
    for address in addresses:
        try:
            sock = socket.create_connection((address, probe.port), timeout=probe.timeout)
        except OSError as exc:
            errors.append(f"{address}: {exc.strerror or exc}")
            continue
        facts.add("ok", "TCP connect", f"{address}:{probe.port}")
        return sock
    facts.stop(
        "connect",
        "TCP connect",
        f"port {probe.port}: {'; '.join(errors)}",
        "nothing listens there: start the service (make run, or make up) or fix the port",
        "unreachable",
    )
    return None


def _handshake_failed(probe: Probe, facts: RemoteFacts, exc: Exception, address: str) -> None:
    why = explain(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        cert = _server_certificate(probe, address)
        facts.server_names = _names(cert) if cert else []
        shown = f"; it presents {cert.subject.rfc4514_string()}" if cert else ""
        shown += f" for {', '.join(facts.server_names)}" if facts.server_names else ""
        shown += f", issued by {cert.issuer.rfc4514_string()}" if cert else ""
        cause = why.cause.replace("the peer's", "the server's")
        facts.stop("server", "server certificate", cause + shown, why.hint, why.reason)
        return
    if probe.max_version == "1.2" or why.reason in ("protocol_version", "handshake_closed"):
        facts.stop(
            "version",
            "TLS version",
            f"the server refused a TLS {probe.max_version} handshake ({exc})",
            "offer TLS 1.3",
            "protocol_version",
        )
        return
    facts.stop("handshake", "TLS handshake", f"{why.cause} ({exc})", why.hint, why.reason)


def _describe_server(tls: ssl.SSLSocket, probe: Probe, facts: RemoteFacts) -> None:
    cipher = tls.cipher()
    facts.add("ok", "TLS handshake", f"{tls.version()}, {cipher[0] if cipher else '?'}")
    der = tls.getpeercert(binary_form=True)
    if der:
        cert = x509.load_der_x509_certificate(der)
        facts.server_names = _names(cert)
        days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
        facts.add(
            "ok",
            "server certificate",
            f"{cert.subject.rfc4514_string()}, issued by "
            f"{cert.issuer.rfc4514_string()}, verified against --ca ({days}-day cert)",
        )
        facts.add(
            "ok",
            "server hostname",
            f"{probe.server_name} is in its SANs ({', '.join(facts.server_names)})",
        )


def _request(tls: ssl.SSLSocket, probe: Probe, facts: RemoteFacts) -> None:
    try:
        facts.status, facts.body = get(tls, probe.path, f"{probe.server_name}:{probe.port}")
    except (NoAnswer, *REFUSED_ON_READ) as exc:
        sent = "our certificate" if probe.cert else "no certificate"
        reason = "connection_closed" if isinstance(exc, NoAnswer) else explain(exc).reason
        facts.stop(
            "client",
            "client certificate",
            f"refused: the server closed the connection "
            f"after the handshake, before any answer (we sent {sent})",
            "see the verdict below, and the server log's 'tls handshake refused' line",
            reason,
        )
        return
    except h11.ProtocolError as exc:
        facts.stop("http", "HTTP", f"the answer is not HTTP/1.1 ({exc})", "is this port HTTPS?")
        return
    facts.add("ok", "client certificate", "accepted (the server answered)")


def walk(probe: Probe) -> RemoteFacts:
    """Every connection step until one fails; the HTTP answer when none does."""
    facts = RemoteFacts()
    addresses = _resolve(probe, facts)
    sock = _connect(probe, addresses, facts) if addresses else None
    if sock is None:
        return facts
    address = str(sock.getpeername()[0])
    try:
        context = diagnostic_context(
            probe.ca_pem,
            probe.cert,
            probe.key,
            key_password=probe.key_password,
            max_version=probe.max_version,
        )
        tls = context.wrap_socket(sock, server_hostname=probe.server_name)
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        _handshake_failed(probe, facts, exc, address)
        return facts
    with tls:
        _describe_server(tls, probe, facts)
        _request(tls, probe, facts)
    return facts
