"""The storefront under load: orders placed by concurrent workers, and what came back.

The tests' load-and-faults runs and `make swarm-e2e` use it. Each order carries
its own Idempotency-Key, and goes through the toolkit's `PeerClient`, so the
load spreads over the replicas behind one name the way a service's calls do
(DNS re-resolved, connections retired by age, a dropped call sent once more,
deduplicated by its key). An answer is recorded by status; anything that is
not an HTTP answer is an error, with its cause.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import ssl
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from mtls import (
    PeerClient,
    PeerUnavailable,
    Role,
    TLSContexts,
    TLSSettings,
)
from mtls.metrics import PEER_RETRIES

from storefront import replicas

ORDER = {"items": [{"sku": "book", "quantity": 1}], "amount_minor": 1999, "currency": "EUR"}
# Longer than what orders may spend on payments for one order (connect, a retry on another
# replica, the read): orders answers 503 by then, and the storefront sees the answer.
ORDER_TIMEOUT = httpx.Timeout(30.0, connect=3.0)


def orders_client(url: str, contexts: TLSContexts, concurrency: int) -> PeerClient:
    """The storefront's client of orders: one connection per worker at most."""
    return PeerClient("orders", url, contexts, timeout=ORDER_TIMEOUT, max_connections=concurrency)


@dataclass
class Run:
    """What a load run saw: statuses by count, and anything that was not an HTTP answer."""

    statuses: Counter[int] = field(default_factory=Counter)
    order_status: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    peers_named: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, of every answer
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    _waiters: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    def answered(self) -> None:
        for count, event in self._waiters:
            if self.done >= count:
                event.set()

    async def reached(self, count: int) -> None:
        """Wait until `count` requests have been answered (or failed)."""
        event = asyncio.Event()
        self._waiters.append((count, event))
        self.answered()
        await event.wait()

    def record(self, answer: httpx.Response) -> None:
        try:
            body = answer.json()
        except ValueError:  # not the services' JSON (a 500 from the server itself)
            self.errors.append(f"{answer.status_code} {answer.text[:200]!r}")
            return
        self.statuses[answer.status_code] += 1
        if answer.status_code == 201:
            self.order_status[body["status"]] += 1
        elif answer.status_code == 503:
            detail = body["detail"]
            self.peers_named[detail.get("peer") or detail.get("database", "?")] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "answered": sum(self.statuses.values()),
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "order_status": dict(self.order_status),
            "unavailable_named": dict(self.peers_named),
            "errors": len(self.errors),
            "first_errors": self.errors[:5],
            "latency_s": _quantiles(self.latencies),
        }


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.50), "p99": at(0.99), "max": round(ordered[-1], 3)}


async def place_orders(
    orders: PeerClient,
    count: int,
    concurrency: int,
    during: Callable[[Run], Awaitable[None]] | None = None,
) -> Run:
    """POST up to `count` orders with `concurrency` workers (fewer if `run.stopping` is set);
    `during(run)` runs beside them."""
    run, next_index = Run(), iter(range(count))

    async def worker() -> None:
        for _ in next_index:
            if run.stopping.is_set():
                return
            key = {"Idempotency-Key": uuid.uuid4().hex}
            sent = time.monotonic()
            try:
                answer = await orders.request("POST", "/orders", json=ORDER, headers=key)
            except PeerUnavailable as exc:
                run.errors.append(str(exc))
            else:
                run.record(answer)
            run.latencies.append(time.monotonic() - sent)
            run.answered()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    if during is not None:
        await during(run)
    await asyncio.gather(*workers)
    return run


# ------------------------------------------------------------------ the command
# `python -m storefront.load` inside the orchestrator's network (`make swarm-e2e`):
# prints {"progress": N} lines while it runs and one {"summary": ...} line at the end;
# SIGTERM stops it early (the workers finish the orders they sent).


@dataclass
class Watched:
    """A service whose replicas are counted: `principal` is who the count is for."""

    service: str
    principal: str
    before: dict[str, float] = field(default_factory=dict)
    appeared: dict[str, float] = field(default_factory=dict)  # address: when first in DNS
    first_served: dict[str, float] = field(default_factory=dict)  # address: seconds after

    @classmethod
    def parse(cls, text: str) -> Watched:
        service, _, principal = text.partition(":")
        return cls(service, principal or "storefront")


async def watch_new_replicas(watched: list[Watched], ops: ssl.SSLContext, run: Run) -> None:
    """Until the run ends: note replicas that appear in DNS, and when each first serves."""
    loop = asyncio.get_running_loop()
    while not run.stopping.is_set():
        for item in watched:
            counts = await replicas.served(item.service, item.principal, ops)
            now = loop.time()
            for address, count in counts.items():
                if address not in item.before and address not in item.appeared:
                    item.appeared[address] = now
                    print(json.dumps({"new_replica": item.service, "address": address}), flush=True)
                if address in item.appeared and address not in item.first_served and count > 0:
                    after = item.first_served[address] = round(now - item.appeared[address], 1)
                    line = {"first_served": item.service, "address": address, "after_s": after}
                    print(json.dumps(line), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.stopping.wait(), 1.0)


async def command(args: argparse.Namespace) -> dict[str, Any]:
    contexts = TLSContexts(TLSSettings(identity="storefront"), roles=(Role.CLIENT,))
    ops = replicas.ops_context(args.ops)
    orders = orders_client(args.orders_url, contexts, args.concurrency)
    watched = [Watched.parse(text) for text in args.count]
    for item in watched:
        item.before = await replicas.served(item.service, item.principal, ops)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def during(run: Run) -> None:
        loop.add_signal_handler(signal.SIGTERM, run.stopping.set)
        watcher = asyncio.create_task(watch_new_replicas(watched, ops, run))
        while run.done < args.orders and not run.stopping.is_set():
            print(json.dumps({"progress": run.done}), flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.stopping.wait(), 1.0)
        run.stopping.set()
        await watcher

    try:
        run = await place_orders(orders, args.orders, args.concurrency, during)
    finally:
        await orders.aclose()
    seconds = loop.time() - started
    summary = {**run.summary(), "seconds": round(seconds, 1), "retries": _retries()}
    for item in watched:
        after = await replicas.served(item.service, item.principal, ops)
        summary[f"{item.service}_served"] = {
            address: count - item.before.get(address, 0.0) for address, count in after.items()
        }
        summary[f"{item.service}_new_replicas"] = item.first_served
    return summary


def _retries() -> float:
    """The calls this run's client sent once more (mtls.client.retry_is_safe)."""
    return sum(
        float(sample.value)
        for family in PEER_RETRIES.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storefront.load", description=__doc__)
    parser.add_argument("orders_url")
    parser.add_argument("--orders", type=int, default=2000, help="at most this many")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--count", action="append", default=[], metavar="SERVICE:PRINCIPAL",
        help="count per replica what PRINCIPAL sent to SERVICE (e.g. payments:orders)",
    )  # fmt: skip
    parser.add_argument("--ops", type=Path, default=Path("/run/mtls/ops"), help=replicas.OPS_HELP)
    args = parser.parse_args(argv)
    print(json.dumps({"summary": asyncio.run(command(args))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
