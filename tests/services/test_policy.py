"""The access policy of orders and payments, checked over real mTLS for every caller and route.

POLICY below is the design's table. Every identity calls every route with a valid
request: a caller the route names gets the route's real answer, every other caller
gets 403 naming itself and the route, and the service writes an audit line. A route
that a service serves but the table does not list fails the suite, so the table
cannot fall behind the code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from devpki import DevPKI
from service_pair import ORDER, DatabaseKind, ServicePair

CALLERS = ("storefront", "ops", "orders", "payments", "intruder")
ANYONE = frozenset(CALLERS)  # any authenticated principal, an unknown one included
UNKNOWN_ORDER, UNKNOWN_PAYMENT = "ord_unknown", "pay_unknown"


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str  # the route's template, as the 403 and the audit log name it
    allowed: frozenset[str]
    answer: int  # what an allowed caller gets for the request below
    url: str = ""  # the concrete path, when it differs from the template
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def allow(*names: str) -> frozenset[str]:
    return frozenset(names)


EVENT = {
    "event_id": "evt_policy",
    "type": "payment.settled",
    "payment_id": UNKNOWN_PAYMENT,
    "order_id": UNKNOWN_ORDER,
    "occurred_at": "2026-01-01T00:00:00+00:00",
}
PAYMENT = {"amount_minor": 1999, "currency": "EUR"}  # order_id is added per call
ORDER_PATH, PAYMENT_PATH = f"/orders/{UNKNOWN_ORDER}", f"/payments/{UNKNOWN_PAYMENT}"

POLICY = [
    Route("orders", "POST", "/orders", allow("storefront"), 201, body=ORDER),
    Route("orders", "GET", "/orders", allow("storefront", "ops"), 200),
    Route("orders", "GET", "/orders/{order_id}", allow("storefront", "ops"), 404, ORDER_PATH),
    Route(
        "orders",
        "GET",
        "/orders/{order_id}/events",
        allow("storefront", "ops"),
        404,
        f"{ORDER_PATH}/events",
    ),
    Route(
        "orders",
        "POST",
        "/orders/{order_id}/retry-payment",
        allow("storefront", "ops"),
        404,
        f"{ORDER_PATH}/retry-payment",
    ),
    Route(
        "orders",
        "POST",
        "/orders/{order_id}/payment-events",
        allow("payments"),
        404,
        f"{ORDER_PATH}/payment-events",
        body=EVENT,
    ),
    Route(
        "orders",
        "POST",
        "/orders/{order_id}/refund",
        allow("storefront"),
        404,
        f"{ORDER_PATH}/refund",
    ),
    Route("payments", "POST", "/payments", allow("orders"), 201, body=PAYMENT),
    Route("payments", "GET", "/payments/{payment_id}", allow("orders", "ops"), 404, PAYMENT_PATH),
    Route(
        "payments",
        "GET",
        "/payments",
        allow("orders", "ops"),
        200,
        params={"order_id": UNKNOWN_ORDER},
    ),
    Route(
        "payments",
        "POST",
        "/payments/{payment_id}/refund",
        allow("orders"),
        404,
        f"{PAYMENT_PATH}/refund",
    ),
] + [
    route
    for service in ("orders", "payments")
    for route in (
        Route(service, "GET", "/health", ANYONE, 200),
        Route(service, "GET", "/metrics", allow("ops"), 200),
        Route(service, "GET", "/openapi.json", ANYONE, 200),
        Route(service, "GET", "/docs", ANYONE, 200),
    )
]


@pytest.fixture(scope="module")
def pair(
    default_pki: DevPKI, tmp_path_factory: pytest.TempPathFactory, database: DatabaseKind
) -> Iterator[ServicePair]:
    default_pki.issue("intruder", client_only=True, force=False)  # same CA, valid SPIFFE ID
    data = tmp_path_factory.mktemp("policy")
    with ServicePair.start(default_pki.directory, data, database=database) as services:
        yield services


@pytest.fixture(scope="module")
def clients(pair: ServicePair) -> Iterator[dict[str, httpx.Client]]:
    """One kept-alive client per identity, so the matrix costs one handshake per caller."""
    opened = {name: pair.client(name) for name in CALLERS}
    yield opened
    for client in opened.values():
        client.close()


def call(pair: ServicePair, client: httpx.Client, route: Route) -> httpx.Response:
    base = pair.orders_url if route.service == "orders" else pair.payments_url
    body, headers = route.body, {}
    if route.label == "POST /payments":
        key = f"ord_{uuid.uuid4().hex}"
        body, headers = {**PAYMENT, "order_id": key}, {"Idempotency-Key": key}
    url = base + (route.url or route.path)
    return client.request(route.method, url, params=route.params, json=body, headers=headers)


@pytest.mark.parametrize(
    ("route", "caller"),
    [
        pytest.param(route, caller, id=f"{route.service} {route.label} as {caller}")
        for route in POLICY
        for caller in CALLERS
    ],
)
def test_route_answers_only_the_principals_its_policy_names(
    pair: ServicePair, clients: dict[str, httpx.Client], route: Route, caller: str
) -> None:
    answer = call(pair, clients[caller], route)

    if caller in route.allowed:
        assert answer.status_code == route.answer, answer.text
        return
    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"] == {
        "error": "forbidden",
        "principal": caller,
        "route": route.label,
        "message": f"{caller} is not allowed to call {route.label}",
    }
    server = pair.orders if route.service == "orders" else pair.payments
    assert server is not None
    server.wait_for_event("authorization denied", principal=caller, route=route.label)


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_policy_table_lists_every_route_the_service_serves(
    clients: dict[str, httpx.Client], pair: ServicePair, service: str
) -> None:
    base = pair.orders_url if service == "orders" else pair.payments_url
    schema = clients["ops"].get(f"{base}/openapi.json").json()
    served = {
        f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item
    }
    listed = {route.label for route in POLICY if route.service == service}
    assert served <= listed, f"routes missing from POLICY: {sorted(served - listed)}"


@pytest.mark.parametrize(
    ("caller", "path", "body"),
    [
        ("ops", "/orders", {"items": [], "amount_minor": -1, "currency": "EUO"}),
        ("payments", "/orders", {"items": "many"}),
        ("storefront", f"{ORDER_PATH}/payment-events", {"type": "payment.stolen"}),
    ],
)
def test_caller_outside_the_policy_is_refused_before_its_body_is_read(
    pair: ServicePair,
    clients: dict[str, httpx.Client],
    caller: str,
    path: str,
    body: dict[str, Any],
) -> None:
    orders_before = pair.count("orders", "orders")

    answer = clients[caller].post(pair.orders_url + path, json=body)

    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"]["principal"] == caller
    assert pair.count("orders", "orders") == orders_before


@pytest.mark.parametrize(("caller", "allowed"), [("ops", False), ("storefront", True)])
def test_malformed_json_is_a_403_for_outsiders_and_a_422_for_the_allowed_caller(
    pair: ServicePair, clients: dict[str, httpx.Client], caller: str, allowed: bool
) -> None:
    answer = clients[caller].post(
        pair.orders_url + "/orders",
        content=b'{"items": [broken',
        headers={"Content-Type": "application/json"},
    )

    if allowed:
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["type"] == "json_invalid"
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["detail"]["principal"] == caller
        assert "loc" not in answer.text  # the route's schema is not revealed
