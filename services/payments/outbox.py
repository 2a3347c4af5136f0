"""Settlement and event delivery: the work payments does after answering.

Both loops read their work from the database, so a restart resumes where it
stopped. Events go to orders over mTLS with payments' own certificate; a
failed delivery (orders down, refusing TLS, or answering an error) is retried
with exponential backoff and jitter until it succeeds. An event orders refuses
for good (a 4xx other than 408 and 429: it will never be accepted) is parked
as dead, with an audit line and a count, instead of being retried forever; it
stays in the outbox for an operator. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from mtls import PeerClient, PeerUnavailable, audit
from prometheus_client import Counter

from payments.settings import PaymentsSettings
from payments.store import PaymentStore

logger = logging.getLogger("payments.outbox")
DEAD_EVENTS = Counter(
    "payments_outbox_dead_total",
    "Events orders refused for good (parked, not retried), by the status it answered.",
    ["status"],
)
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
BASE_BACKOFF = 0.5
# Events in flight to orders at once. It bounds the kept-alive pool to orders: a pass
# sending all its due events (up to 50) at once opened a new mTLS connection for each
# one beyond the last pass's peak (measured in `make bench`).
DELIVERY_CONCURRENCY = 16
BATCH = 50  # events read per pass; a full batch means more are due: the next pass runs at once


def backoff(attempts: int, cap: float) -> float:
    """Seconds before attempt number `attempts + 1`: doubling, capped, with 20% jitter."""
    delay: float = min(cap, BASE_BACKOFF * 2.0**attempts)
    return delay * random.uniform(0.8, 1.0)


def _permanent(status: int) -> bool:
    """A refusal that no retry can change (a 4xx other than timeout and rate limit)."""
    return 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS


class Outbox:
    def __init__(self, store: PaymentStore, orders: PeerClient, settings: PaymentsSettings) -> None:
        self.store, self.orders, self.settings = store, orders, settings

    async def settle_due(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.settings.settle_delay)
        return await self.store.settle_due(cutoff.isoformat(timespec="milliseconds"))

    async def deliver_due(self) -> int:
        events = await self.store.due_events(time.time(), BATCH)
        slots = asyncio.Semaphore(DELIVERY_CONCURRENCY)

        async def deliver(event: dict[str, Any]) -> int | None:
            async with slots:
                return await self._deliver(event)

        results = await asyncio.gather(*(deliver(event) for event in events))
        # One transaction marks the pass's deliveries. A crash before it redelivers them:
        # orders applies an event id once.
        delivered = [seq for seq in results if seq is not None]
        await self.store.delivered(delivered)
        return len(delivered)

    async def _deliver(self, event: dict[str, Any]) -> int | None:
        """Send one event; its seq once orders accepted it, else None (retried or parked)."""
        seq, attempts = event.pop("seq"), event.pop("attempts")
        path = f"/orders/{quote(event['order_id'], safe='')}/payment-events"
        try:
            response = await self.orders.request("POST", path, json=event)
        except PeerUnavailable as exc:
            error = f"{exc.why.reason}: {exc.why.cause}"
        else:
            if response.is_success:
                logger.info(
                    "event delivered",
                    extra={
                        "event_id": event["event_id"],
                        "type": event["type"],
                        "order_id": event["order_id"],
                        "attempts": attempts + 1,
                    },
                )
                return int(seq)
            error = f"orders answered {response.status_code}: {response.text[:200]}"
            if _permanent(response.status_code):
                await self._park(seq, event, response.status_code, error)
                return None
        retry_in = backoff(attempts, self.settings.outbox_max_backoff)
        await self.store.failed(seq, time.time() + retry_in, error)
        logger.warning(
            "event delivery failed; will retry",
            extra={
                "event_id": event["event_id"],
                "order_id": event["order_id"],
                "attempts": attempts + 1,
                "retry_in_s": round(retry_in, 2),
                "error": error,
            },
        )
        return None

    async def _park(self, seq: int, event: dict[str, Any], status: int, error: str) -> None:
        await self.store.park(seq, error)
        DEAD_EVENTS.labels(str(status)).inc()
        audit(
            "event parked as dead",
            logging.WARNING,
            event_id=event["event_id"],
            type=event["type"],
            order_id=event["order_id"],
            status=status,
            error=error,
        )

    async def run(self) -> None:
        """Settle and deliver until cancelled; a failing pass is logged, never fatal."""
        while True:
            delivered = 0
            try:
                await self.settle_due()
                delivered = await self.deliver_due()
            except Exception:
                logger.exception("outbox pass failed; retrying")
            # A full batch delivered: more are due. Still yield, or settling would starve.
            await asyncio.sleep(0 if delivered >= BATCH else self.settings.outbox_interval)
