"""What the server made of a call, read from its /metrics with the ops certificate.

A client cannot read the server's log, but the server counts what it logs:
`mtls_handshake_failures_total{reason}` for "tls handshake refused",
`mtls_authorization_denials_total` for "authorization denied",
`mtls_requests_total{principal,status}` for every answered request. The
difference of two scrapes, around one call, is that call's log line.
"""

from __future__ import annotations

import re
import ssl
import time
from collections import Counter

import httpx

_SAMPLE = re.compile(r"^(mtls_[a-z_]+_total)(\{[^}]*\})? ([0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
OPERATOR = "ops"  # the identity that may read /metrics, and whose scrapes are left out


def scrape(client: httpx.Client, base_url: str) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """The counters of one service, keyed by (metric, labels)."""
    text = client.get(f"{base_url}/metrics").raise_for_status().text
    counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = tuple(_LABEL.findall(match.group(2) or ""))
            counts[(match.group(1), labels)] = int(float(match.group(3)))
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
