"""Load and faults, bounded in count and time: the services under pressure and after a crash.

2,000 storefront orders at concurrency 32 go through orders and payments with
no error and no leaked file descriptors. Then payments is killed (SIGKILL) in
the middle of a run and started again: every request still gets an answer
(paid, or 503 naming payments), and once the retry loop and the outbox have
caught up, the two databases agree exactly: every paid order has one payment,
every payment one order. The same holds when PostgreSQL itself is killed: the
answers are 201 or 503 naming the database (or payments, whose database it is).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from devpki import DevPKI
from service_pair import DatabaseKind, ServicePair
from storefront import load
from storefront.load import Run

from harness.clients import toolkit_contexts
from harness.processes import ServerProcess

pytestmark = pytest.mark.slow

ORDERS = 2_000
CONCURRENCY = 32
FD_SLACK = 8  # the odd log or database file handle; a leak grows with the request count
FAULT_ORDERS = 600
FAULT_CONCURRENCY = 16


async def place_orders(
    pair: ServicePair,
    count: int,
    concurrency: int,
    during: Callable[[Run], Awaitable[None]] | None = None,
) -> Run:
    """The storefront's load client against this pair: `count` orders, `concurrency` workers."""
    contexts = toolkit_contexts(pair.pki_dir, "storefront")
    orders = load.orders_client(pair.orders_url, contexts, concurrency)
    try:
        return await load.place_orders(orders, count, concurrency, during)
    finally:
        await orders.aclose()


def open_fds(server: ServerProcess) -> int:
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def fd_counts(pair: ServicePair) -> tuple[int, int]:
    assert pair.orders is not None
    assert pair.payments is not None
    return open_fds(pair.orders), open_fds(pair.payments)


def settle_fds(
    pair: ServicePair, baseline: tuple[int, int], timeout: float = 15.0
) -> tuple[int, int]:
    """FD counts once closed connections are gone (or the last seen after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = fd_counts(pair)
        within = all(now <= base + FD_SLACK for now, base in zip(counts, baseline, strict=True))
        if within or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


@pytest.fixture
def pair(default_pki: DevPKI, tmp_path: Path, database: DatabaseKind) -> Iterator[ServicePair]:
    with ServicePair.start(default_pki.directory, tmp_path, database=database) as pair:
        yield pair


@pytest.mark.timeout(240)
def test_2000_orders_at_concurrency_32_all_paid_without_leaking_descriptors(
    pair: ServicePair,
) -> None:
    warm_up = asyncio.run(place_orders(pair, CONCURRENCY * 2, CONCURRENCY))
    assert warm_up.statuses == Counter({201: CONCURRENCY * 2}), warm_up
    before = settle_fds(pair, fd_counts(pair), timeout=2)

    run = asyncio.run(place_orders(pair, ORDERS, CONCURRENCY))
    after = settle_fds(pair, before)

    print(f"load: {ORDERS} orders at {CONCURRENCY}: {dict(run.statuses)}; fds {before} -> {after}")
    assert run.errors == [], run.errors[:5]
    assert run.statuses == Counter({201: ORDERS}), run
    assert run.order_status == Counter({"paid": ORDERS}), run
    paid = pair.query("orders", "SELECT COUNT(*) FROM orders WHERE payment_id IS NOT NULL")
    assert paid[0][0] == ORDERS + CONCURRENCY * 2
    for service, now, then in zip(("orders", "payments"), after, before, strict=True):
        assert now <= then + FD_SLACK, f"{service} holds {now} descriptors, {then} before the run"


def crash_mid_run(
    kill: Callable[[], object], start: Callable[[], object]
) -> Callable[[Run], Awaitable[None]]:
    """What runs beside the load: `kill` a third of the way in, `start` again once 50 more
    answers came."""

    async def during(run: Run) -> None:
        await run.reached(FAULT_ORDERS // 3)
        await asyncio.to_thread(kill)
        await run.reached(run.done + 50)
        await asyncio.to_thread(start)

    return during


def wait_until_settled(pair: ServicePair, timeout: float = 90.0) -> list[tuple[str, int]]:
    """Wait for the retry loop and the outbox; the statuses of the orders at the end."""
    deadline = time.monotonic() + timeout
    query = "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status"
    while True:
        statuses = [(row[0], row[1]) for row in pair.query("orders", query)]
        if [status for status, _ in statuses] == ["settled"] or time.monotonic() > deadline:
            return statuses
        time.sleep(0.25)


@pytest.mark.timeout(240)
def test_payments_killed_mid_run_every_request_answered_and_databases_reconcile(
    pair: ServicePair,
) -> None:
    assert pair.payments is not None
    crash = crash_mid_run(pair.payments.kill, pair.start_payments)
    run = asyncio.run(place_orders(pair, FAULT_ORDERS, FAULT_CONCURRENCY, crash))

    assert_every_request_answered(run, "payments")
    assert set(run.peers_named) == {"payments"}, run.peers_named
    assert_reconciled(pair, FAULT_ORDERS, run)


@pytest.mark.timeout(240)
def test_postgresql_killed_mid_run_every_request_answered_and_databases_reconcile(
    default_pki: DevPKI, tmp_path: Path
) -> None:
    with ServicePair.start(default_pki.directory, tmp_path, database="postgresql") as pair:
        assert pair.postgres is not None
        crash = crash_mid_run(pair.postgres.kill, pair.postgres.start)  # every process
        run = asyncio.run(place_orders(pair, FAULT_ORDERS, FAULT_CONCURRENCY, crash))

        assert_every_request_answered(run, "PostgreSQL")
        orders_db = (
            f"PostgreSQL orders@localhost:{pair.postgres.port}/orders" if pair.postgres else ""
        )
        assert set(run.peers_named) <= {orders_db, "payments"}, run.peers_named
        # An order is lost only if it was never answered 201: count what orders holds.
        assert_reconciled(pair, pair.count("orders", "orders"), run)
        assert pair.count("orders", "orders") >= run.statuses[201]


def assert_every_request_answered(run: Run, killed: str) -> None:
    """Every request got an HTTP answer, 201 or 503, and some noticed the crash."""
    assert run.errors == [], run.errors[:5]
    assert set(run.statuses) <= {201, 503}, run
    assert sum(run.statuses.values()) == FAULT_ORDERS
    assert run.statuses[503] > 0, f"{killed} was killed but no request noticed"


def assert_reconciled(pair: ServicePair, expected: int, run: Run) -> None:
    """Once retries and the outbox caught up: every order settled, each with one payment."""
    final = wait_until_settled(pair)
    print(f"fault: {dict(run.statuses)} {dict(run.peers_named)}; orders at the end: {final}")
    assert final == [("settled", expected)], final
    orders = {
        row["id"]: row["payment_id"]
        for row in pair.query("orders", "SELECT id, payment_id FROM orders")
    }
    payments = pair.query("payments", "SELECT id, order_id, status FROM payments")
    per_order = Counter(row["order_id"] for row in payments)
    assert len(payments) == len(orders) == expected
    assert all(per_order[order_id] == 1 for order_id in orders), "an order was charged twice"
    assert all(orders.get(row["order_id"]) == row["id"] for row in payments), "orphan payment"
    assert {row["status"] for row in payments} == {"settled"}
