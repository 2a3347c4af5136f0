"""No route of the services runs anything in a worker thread per request.

FastAPI runs a plain `def` dependency (or endpoint) in anyio's thread pool: a
thread hop for every request. The profile of the chain showed it: orders'
`store` and `payments` dependencies, plain functions returning a field of the
app's state, cost about a tenth of orders' CPU per order, in hops alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from orders.routes import router as orders_router
from payments.routes import router as payments_router


def calls(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def runs_on_the_loop(call: Any) -> bool:
    function = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__
    return inspect.iscoroutinefunction(function)


@pytest.mark.parametrize("router", [orders_router, payments_router], ids=["orders", "payments"])
def test_every_dependency_and_endpoint_is_async(router: Any) -> None:
    threaded = [
        f"{route.path}: {getattr(call, '__qualname__', call)!r}"
        for route in router.routes
        if isinstance(route, APIRoute)
        for call in calls(route.dependant)
        if not runs_on_the_loop(call)
    ]
    assert threaded == [], "plain def: a worker-thread hop per request"
