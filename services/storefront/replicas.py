"""Which replica served how much: each replica's own request counter, read as ops.

Behind one name (Swarm's dnsrr, a Kubernetes headless Service) `tasks.<service>`
resolves to every replica's address. Each one's `/metrics` is read over mTLS at
that address, the certificate still verified for the service's name (SNI and
hostname check on `<service>`), and its `mtls_requests_total` summed for one
caller principal: what that caller sent to that replica.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import ssl
import sys
from pathlib import Path

import httpx
from cryptography import x509
from mtls import Role, TLSSettings, client_context, load_material
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


async def serials(service: str, ops: ssl.SSLContext, port: int = PORT) -> dict[str, str]:
    """The serial (hex) of the certificate each replica presents now: after a rolling
    rotation, every replica's is the new one."""
    found = {}
    for address in await addresses(service, port):
        _, writer = await asyncio.open_connection(address, port, ssl=ops, server_hostname=service)
        try:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            found[address] = f"{x509.load_der_x509_certificate(der).serial_number:x}"
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return found


def main(argv: list[str] | None = None) -> int:
    """`python -m storefront.replicas SERVICE...`: each replica's certificate serial, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m storefront.replicas", description=__doc__)
    parser.add_argument("services", nargs="+")
    parser.add_argument("--ops", type=Path, default=Path("/run/mtls/ops"), help=OPS_HELP)
    args = parser.parse_args(argv)
    ops = ops_context(args.ops)

    async def every() -> dict[str, dict[str, str]]:
        return {service: await serials(service, ops) for service in args.services}

    print(json.dumps({"serials": asyncio.run(every())}), flush=True)
    return 0


OPS_HELP = "ops' certificate folder (chain.pem, key.pem), to read /metrics"


def ops_context(folder: Path) -> ssl.SSLContext:
    """The client context of ops (the CA from MTLS_CA, as for every identity)."""
    settings = TLSSettings(cert=folder / "chain.pem", key=folder / "key.pem")
    return client_context(load_material(settings, (Role.CLIENT,)))


if __name__ == "__main__":
    sys.exit(main())
