"""Prometheus metrics for what an mTLS operator watches.

Expiry timestamps feed "certificate expires in < 30 days" alerts; handshake
failures by reason show impostors and misconfigured peers; denials and
requests by principal show who calls what.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

CERTIFICATE_EXPIRY = Gauge(
    "mtls_certificate_expiry_timestamp_seconds",
    "Not-after of the certificate in use, as a Unix timestamp.",
    ["role", "subject"],
)
CRL_NEXT_UPDATE = Gauge(
    "mtls_crl_next_update_timestamp_seconds",
    "Next-update of each CRL in use, as a Unix timestamp: past it, every handshake fails.",
    ["issuer"],
)
CRL_THIS_UPDATE = Gauge(
    "mtls_crl_this_update_timestamp_seconds",
    "This-update of each CRL in use: past half-way to next-update, the issuer is late.",
    ["issuer"],
)
HANDSHAKES = Counter("mtls_handshakes_total", "TLS handshakes completed by this server.")
HANDSHAKE_FAILURES = Counter(
    "mtls_handshake_failures_total", "TLS handshakes this server refused, by reason.", ["reason"]
)
CONNECTIONS_CLOSED = Counter(
    "mtls_connections_closed_total",
    "Open connections the server closed because their peer became unacceptable, by reason.",
    ["reason"],
)
AUTHZ_DENIALS = Counter(
    "mtls_authorization_denials_total",
    "Requests refused by the route policy, by principal and route.",
    ["principal", "route"],
)
REQUESTS = Counter(
    "mtls_requests_total",
    "Requests served, by caller principal and status.",
    ["principal", "status"],
)
LIMIT_REFUSALS = Counter(
    "mtls_limit_refusals_total",
    "Requests or connections refused by a limit (body_size, head_size, connections).",
    ["limit"],
)
PEER_RETRIES = Counter(
    "mtls_peer_retries_total",
    "Calls to a peer sent again once, on another connection, after a safe failure.",
    ["peer"],
)
RELOADS = Counter(
    "mtls_material_reloads_total", "Certificate material reload attempts, by result.", ["result"]
)

# The renewer's own (`python -m devpki renewer --listen`): a renewal that fails is counted here,
# and the alert on the gauge fires until one succeeds.
RENEWALS = Counter(
    "mtls_certificate_renewals_total",
    "Renewals the renewer attempted, by leaf and result (renewed, failed).",
    ["leaf", "result"],
)
RENEWAL_FAILURES = Gauge(
    "mtls_certificate_renewal_failures",
    "Renewals of this leaf that failed in a row: 0 again once one succeeds.",
    ["leaf"],
)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, with their content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
