"""Orders and the payment events applied to them, in the service's database.

Statuses only move forward (pending -> paid/declined -> settled -> refund
requested -> refunded), so a retried call, a duplicate event or events that
arrive out of order can never undo progress. Events are recorded by id:
applying one twice changes nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from servicekit.answers import Conflict
from servicekit.database import Database, created_elsewhere
from servicekit.values import now_iso
from sqlalchemy import Connection, RowMapping, bindparam, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from orders.models import Order, OrderRequest, OrderStatus, PaymentEvent, ReceivedEvent
from orders.tables import orders, payment_events

RANK: dict[str, int] = {
    "payment_pending": 0,
    "paid": 1,
    "payment_declined": 1,
    "settled": 2,
    "refund_requested": 3,
    "refunded": 4,
}
EVENT_STATUS: dict[str, OrderStatus] = {
    "payment.settled": "settled",
    "payment.refunded": "refunded",
}
# What payments' answer to a charge makes of the order.
ANSWER_STATUS: dict[str, OrderStatus] = {"declined": "payment_declined", "settled": "settled"}
# The order statuses from which each event is a forward move of the order's payment.
EVENT_FROM: dict[str, frozenset[str]] = {
    "payment.settled": frozenset({"paid"}),
    "payment.refunded": frozenset({"paid", "settled", "refund_requested"}),
}


class ClientKeyConflict(Conflict):
    """The storefront's Idempotency-Key was used before for a different order."""

    error = "idempotency key reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was used for a different order; use a new key for a new order"
        )


class EventRefused(Conflict):
    """A payment event that does not fit the order: the reason says why (sent in the 409)."""

    error = "event refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, reason=reason)


def _event_refusal(event: PaymentEvent, row: RowMapping) -> str | None:
    """Why this event may not change the order, or None when it may.

    payments' certificate is no licence to rewrite an order: the event must name the
    payment orders recorded for it, and move that payment forward.
    """
    if row["payment_id"] is None:
        return f"order {event.order_id} has no recorded payment (it is {row['status']})"
    if row["payment_id"] != event.payment_id:
        return (
            f"the event names payment {event.payment_id}, but order {event.order_id}'s "
            f"payment is {row['payment_id']}"
        )
    if row["status"] not in EVENT_FROM[event.type]:
        return f"{event.type} is not a forward move for an order that is {row['status']}"
    return None


def _order(row: RowMapping) -> Order:
    fields = {key: row[key] for key in Order.model_fields if key != "items"}
    return Order(items=json.loads(row["items"]), **fields)


# Built once: building a statement costs more than running it (178 against 40 µs here).
_ORDER = select(orders).where(orders.c.id == bindparam("order_id"))
_INSERT = insert(orders).returning(*orders.c)
# The order and whether this event was recorded before, in one read.
_ORDER_AND_SEEN = (
    select(orders, payment_events.c.event_id.label("seen"))
    .outerjoin(payment_events, payment_events.c.event_id == bindparam("event_id"))
    .where(orders.c.id == bindparam("order_id"))
)
_INSERT_EVENT = insert(payment_events)
# Moving to a status is one UPDATE that only matches the statuses it moves forward from
# (never backward, never out of declined), and returns the order it changed.
MOVES_FROM: dict[str, list[str]] = {
    status: [s for s in RANK if RANK[s] < RANK[status] and s != "payment_declined"]
    for status in RANK
}
_ADVANCE = {
    status: update(orders)
    .where(
        orders.c.id == bindparam("order_id"),
        # OR of equalities, not IN: SQLAlchemy expands an IN list at every execution.
        or_(*(orders.c.status == literal(s) for s in MOVES_FROM[status])),
    )
    .returning(*orders.c)
    for status in RANK
}


def _row(tx: Connection, order_id: str) -> RowMapping | None:
    return tx.execute(_ORDER, {"order_id": order_id}).mappings().first()


def _get(tx: Connection, order_id: str) -> Order | None:
    row = _row(tx, order_id)
    return _order(row) if row else None


def _advance(tx: Connection, order_id: str, status: OrderStatus, **fields: Any) -> Order | None:
    """Move an order forward to `status`: the order as it is now (None if there is none)."""
    values = {"order_id": order_id, "status": status, "updated_at": now_iso(), **fields}
    row = tx.execute(_ADVANCE[status], values).mappings().first()
    return _order(row) if row else _get(tx, order_id)


def _by_client_key(tx: Connection, key: str, items: str, request: OrderRequest) -> Order | None:
    """The order this key made before (ClientKeyConflict if for other items or amount)."""
    row = tx.execute(select(orders).where(orders.c.client_key == key)).mappings().first()
    if row is None:
        return None
    if (row["items"], row["amount_minor"], row["currency"]) != (
        items,
        request.amount_minor,
        request.currency,
    ):
        raise ClientKeyConflict(key)
    return _order(row)


def _create(
    tx: Connection, request: OrderRequest, items: str, client_key: str | None
) -> tuple[Order, bool]:
    if client_key is not None:
        existing = _by_client_key(tx, client_key, items, request)
        if existing is not None:
            return existing, False
    order_id, stamp = f"ord_{uuid.uuid4().hex}", now_iso()
    values = {
        "id": order_id, "client_key": client_key, "status": "payment_pending", "items": items,
        "amount_minor": request.amount_minor, "currency": request.currency,
        "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip
    row = tx.execute(_INSERT, values).mappings().one()
    return _order(row), True


def _record_payment(tx: Connection, order_id: str, payment: dict[str, object]) -> Order | None:
    status = ANSWER_STATUS.get(str(payment.get("status")), "paid")
    return _advance(
        tx,
        order_id,
        status,
        payment_id=payment.get("id"),
        decline_reason=payment.get("decline_reason"),
        last_payment_error=None,
    )


def _note_payment_error(tx: Connection, order_id: str, error: str) -> None:
    tx.execute(
        update(orders)
        .where(orders.c.id == order_id)
        .values(last_payment_error=error, updated_at=now_iso())
    )


def _refund_requested(tx: Connection, order_id: str) -> Order | None:
    return _advance(tx, order_id, "refund_requested")


def _apply_event(tx: Connection, event: PaymentEvent) -> tuple[bool, Order | None]:
    params = {"order_id": event.order_id, "event_id": event.event_id}
    row = tx.execute(_ORDER_AND_SEEN, params).mappings().first()
    if row is None:
        return False, None
    if row["seen"] is not None:
        return False, _order(row)
    refusal = _event_refusal(event, row)
    if refusal is not None:
        raise EventRefused(refusal)
    tx.execute(
        _INSERT_EVENT,
        {"event_id": event.event_id, "order_id": event.order_id, "type": event.type,
         "payment_id": event.payment_id, "received_at": now_iso()},
    )  # fmt: skip
    return True, _advance(tx, event.order_id, EVENT_STATUS[event.type])


def _recent(tx: Connection, status: str | None, limit: int) -> list[Order]:
    query = select(orders).order_by(orders.c.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(orders.c.status == status)
    return [_order(row) for row in tx.execute(query).mappings()]


def _events(tx: Connection, order_id: str) -> list[ReceivedEvent]:
    columns = (payment_events.c[name] for name in ReceivedEvent.model_fields)
    query = (
        select(*columns)
        .where(payment_events.c.order_id == order_id)
        .order_by(payment_events.c.received_at)
    )
    return [ReceivedEvent(**row) for row in tx.execute(query).mappings()]


def _pending_payment_ids(tx: Connection, updated_before: str) -> list[str]:
    query = (
        select(orders.c.id)
        .where(orders.c.status == "payment_pending", orders.c.updated_at <= updated_before)
        .order_by(orders.c.created_at)
        .limit(100)
    )
    return list(tx.execute(query).scalars())


class OrderStore:
    """The orders' transactions, each one function of a connection (`servicekit.database`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, request: OrderRequest, client_key: str | None) -> tuple[Order, bool]:
        """A new pending order, or the one already made with this client key
        (ClientKeyConflict if that one was for different items or amount)."""
        items = json.dumps([item.model_dump() for item in request.items])
        try:
            return await self.db.write(_create, request, items, client_key)
        except IntegrityError as exc:
            # Another replica inserted this client key between our read and our insert.
            if client_key is None or not created_elsewhere(exc):
                raise
        replayed = await self.db.read(_by_client_key, client_key, items, request)
        assert replayed is not None
        return replayed, False

    async def get(self, order_id: str) -> Order | None:
        return await self.db.read(_get, order_id)

    async def recent(self, status: str | None, limit: int) -> list[Order]:
        return await self.db.read(_recent, status, limit)

    async def record_payment(self, order_id: str, payment: dict[str, object]) -> Order | None:
        """Apply payments' answer: authorized -> paid, settled -> settled (a retry that finds
        the payment already settled), declined -> payment_declined."""
        return await self.db.write(_record_payment, order_id, payment)

    async def note_payment_error(self, order_id: str, error: str) -> None:
        await self.db.write(_note_payment_error, order_id, error)

    async def mark_refund_requested(self, order_id: str) -> Order | None:
        return await self.db.write(_refund_requested, order_id)

    async def apply_event(self, event: PaymentEvent) -> tuple[bool, Order | None]:
        """Record and apply a payment event once: (applied, the order); applied is False if
        it was seen before, the order None if there is no such order. EventRefused (nothing
        written) when it names another payment or is no forward move."""
        try:
            return await self.db.write(_apply_event, event)
        except IntegrityError as exc:
            if not created_elsewhere(exc):
                raise
        # The same event, applied at the same moment by another replica.
        return False, await self.get(event.order_id)

    async def events(self, order_id: str) -> list[ReceivedEvent]:
        return await self.db.read(_events, order_id)

    async def pending_payment_ids(self, updated_before: str) -> list[str]:
        return await self.db.read(_pending_payment_ids, updated_before)
