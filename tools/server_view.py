"""What the server made of a call, read from its /metrics with the ops certificate.

A client cannot read the server's log, but the server counts what it logs:
`mtls_handshake_failures_total{reason}` for "tls handshake refused",
`mtls_authorization_denials_total` for "authorization denied",
`mtls_requests_total{principal,status}` for every answered request. The
difference of two scrapes, around one call, is that call's log line.
"""

from __future__ import annotations

import ssl
import time
from collections import Counter

import httpx

from harness.metrics import samples

OPERATOR = "ops"  # the identity that may read /metrics, and whose scrapes are left out


def scrape(client: httpx.Client, base_url: str) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """The counters of one service, keyed by (metric, labels)."""
    text = client.get(f"{base_url}/metrics").raise_for_status().text
    counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for (name, labels), value in samples(text).items():
        if name.startswith("mtls_") and name.endswith("_total"):
            counts[(name, tuple(sorted(labels)))] = int(value)
    return counts


def _log_line(metric: str, labels: dict[str, str]) -> str | None:
    if metric == "mtls_handshake_failures_total":
        return f"tls handshake refused reason={labels['reason']}"
    if metric == "mtls_authorization_denials_total":
        return f'authorization denied principal={labels["principal"]} route="{labels["route"]}"'
    if metric == "mtls_requests_total" and labels["principal"] != OPERATOR:
        if labels["principal"] == "-" and labels["status"] == "403":
            return "identity refused (request status=403, no principal)"
        return f"request principal={labels['principal']} status={labels['status']}"
    return None


class ServerView:
    """Scrapes a service before and after a call and names what it logged."""

    def __init__(self, base_url: str, context: ssl.SSLContext | None) -> None:
        self.base_url = base_url
        self.client = httpx.Client(verify=context, timeout=5.0) if context else None
        self.before: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def mark(self) -> None:
        if self.client is not None:
            self.before = scrape(self.client, self.base_url)

    def lines(self, settle: float = 2.0) -> list[str]:
        """The server's log lines since `mark`; waits up to `settle` s for them to be counted."""
        if self.client is None:
            return []
        deadline = time.monotonic() + settle
        while True:
            after = scrape(self.client, self.base_url)
            found = []
            for (metric, labels), count in sorted((after - self.before).items()):
                line = _log_line(metric, dict(labels))
                if line:
                    found.append(line if count == 1 else f"{line} (x{count})")
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)
