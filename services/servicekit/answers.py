"""The answers both services give the same way: an idempotent create, a conflict, a 404.

A create keyed by an idempotency key answers 201 the first time and 200 with
`Idempotent-Replayed: true` for a retry; a request that contradicts what is
recorded (a key reused for another body, a second payment for an order, an
event that does not fit) raises a `Conflict`, which one handler turns into a
409 that changes nothing. A database that cannot be reached is a 503 that names
it and the cause (`DatabaseUnavailable`), with Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse

from servicekit.database import DatabaseUnavailable

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"

REPLAYED_HEADER = "Idempotent-Replayed"
T = TypeVar("T")


class Conflict(Exception):
    """The request contradicts what is recorded; `detail` is the body of the 409."""

    error = "conflict"

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.detail = {"error": self.error, "message": message, **facts}


async def conflict_response(request: Request, exc: Exception) -> JSONResponse:
    """The one 409 handler (installed by `create_service`)."""
    assert isinstance(exc, Conflict)
    return JSONResponse({"detail": exc.detail}, status_code=409)


async def unavailable_response(request: Request, exc: Exception) -> JSONResponse:
    """The one 503 for a database that is down (installed by `create_service`)."""
    assert isinstance(exc, DatabaseUnavailable)
    logger.warning(
        "database unavailable",
        extra={"path": request.url.path, "database": exc.where, "cause": exc.cause},
    )
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return JSONResponse({"detail": exc.as_dict()}, status_code=503, headers=headers)


def answer_create(response: Response, created: bool) -> None:
    """201 for a new record (the route's default); 200 and the replay header for a retry."""
    if not created:
        response.status_code = 200
        response.headers[REPLAYED_HEADER] = "true"


def found(record: T | None, kind: str, record_id: str) -> T:
    """The record, or a 404 naming what was not found: {"error": "not found", "<kind>_id": id}."""
    if record is None:
        raise HTTPException(404, detail={"error": "not found", f"{kind}_id": record_id})
    return record
