"""`make demo`: the storefront's side of the story, one step at a time.

Each step prints the request, the principal the caller presents, the answer,
and, for the paid order, the settlement event that payments delivers to
orders a moment later over mTLS. It works against `make run` and `make up`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import httpx
from mtls import Role, TLSSettings, client_context, explain, load_material

ORDER = {
    "items": [{"sku": "mtls-handbook", "quantity": 1}],
    "amount_minor": 2599,
    "currency": "EUR",
}
BIG_ORDER = {
    "items": [{"sku": "server-rack", "quantity": 1}],
    "amount_minor": 950_000,
    "currency": "EUR",
}


class Demo:
    def __init__(self, orders_url: str, payments_url: str) -> None:
        settings = TLSSettings(identity=os.environ.get("MTLS_IDENTITY") or "storefront")
        material = load_material(settings, (Role.CLIENT,))
        self.principal = material.leaf.subject.rfc4514_string()
        self.client = httpx.Client(verify=client_context(material), timeout=10.0)
        self.orders_url, self.payments_url = orders_url.rstrip("/"), payments_url.rstrip("/")
        self.step = 0

    def call(self, title: str, method: str, url: str, body: Any = None) -> httpx.Response:
        self.step += 1
        print(f"\n[{self.step}] {title}")
        print(f"    -> {method} {url}  (as {self.principal})")
        if body is not None:
            print(f"       {json.dumps(body)}")
        response = self.client.request(method, url, json=body)
        print(f"    <- {response.status_code} {_short(response)}")
        return response

    def wait_for_settlement(self, order_id: str, timeout: float = 15.0) -> dict[str, Any]:
        self.step += 1
        print(f"\n[{self.step}] waiting for payments' settlement event to reach orders...")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            order: dict[str, Any] = self.client.get(f"{self.orders_url}/orders/{order_id}").json()
            if order["status"] == "settled":
                events = self.client.get(f"{self.orders_url}/orders/{order_id}/events").json()
                print(f"    <- order {order_id} is settled; payments told orders over mTLS:")
                for event in events:
                    print(f"       {event['type']} {event['event_id']} at {event['received_at']}")
                return order
            time.sleep(0.3)
        raise SystemExit(f"demo: order {order_id} was not settled within {timeout:.0f} s")

    def run(self) -> None:
        paid = self.call("storefront places an order", "POST", f"{self.orders_url}/orders", ORDER)
        paid.raise_for_status()
        self.wait_for_settlement(paid.json()["id"])
        self.call(
            "a big order is declined by payments' rule",
            "POST",
            f"{self.orders_url}/orders",
            BIG_ORDER,
        )
        self.call(
            "storefront tries payments directly: denied",
            "GET",
            f"{self.payments_url}/payments?order_id=x",
        )
        self.call("storefront may not read metrics (ops only)", "GET", f"{self.orders_url}/metrics")
        print("\ndemo: done. Every call above was mutual TLS; identity came from the SPIFFE ID.")


def _short(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def main(argv: list[str]) -> int:
    orders = argv[0] if argv else os.environ.get("DEMO_ORDERS_URL", "https://localhost:8443")
    payments = (
        argv[1] if len(argv) > 1 else os.environ.get("DEMO_PAYMENTS_URL", "https://localhost:9443")
    )
    try:
        Demo(orders, payments).run()
    except httpx.HTTPError as exc:
        why = explain(exc)
        print(f"demo: {orders}: {why.cause} ({why.reason}); {why.hint}", file=sys.stderr)
        print(
            "demo: are the services running? `make run` (or `make up` with Docker)", file=sys.stderr
        )
        return 1
    return 0
