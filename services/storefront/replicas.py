"""Which replica served how much: each replica's own request counter, read as ops.

Behind one name (Swarm's dnsrr, a Kubernetes headless Service) `tasks.<service>`
resolves to every replica's address. Each one's `/metrics` is read over mTLS at
that address, the certificate still verified for the service's name (SNI and
hostname check on `<service>`), and its `mtls_requests_total` summed for one
caller principal: what that caller sent to that replica.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import httpx
from prometheus_client.parser import text_string_to_metric_families

PORT = 8443


async def addresses(service: str, port: int = PORT) -> list[str]:
    """Every replica's address, as the orchestrator's DNS lists them now."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(f"tasks.{service}", port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return sorted({str(info[4][0]) for info in infos})


def requests_from(exposition: str, principal: str) -> float:
    """The requests a replica served for `principal`, every status together."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "mtls_requests"
        for sample in family.samples
        if sample.name == "mtls_requests_total" and sample.labels.get("principal") == principal
    )


async def served(
    service: str, principal: str, ops: ssl.SSLContext, port: int = PORT
) -> dict[str, float]:
    """Requests from `principal` served so far, by replica address."""
    counts: dict[str, float] = {}
    async with httpx.AsyncClient(verify=ops, timeout=10.0) as client:
        for address in await addresses(service, port):
            answer = await client.get(
                f"https://{address}:{port}/metrics", extensions={"sni_hostname": service}
            )
            answer.raise_for_status()
            counts[address] = requests_from(answer.text, principal)
    return counts
