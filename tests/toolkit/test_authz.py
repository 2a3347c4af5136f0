"""Route policies: each route names who may call it; everyone else gets a 403 that says why."""

from __future__ import annotations

import httpx
from devpki import DevPKI

from harness.clients import https
from harness.processes import ServerProcess


def _call(pki: DevPKI, name: str, server: ServerProcess, method: str, path: str) -> httpx.Response:
    with https(pki.directory, name) as client:
        return client.request(method, server.url + path)


def test_allowed_principal_reaches_the_handler(echo: ServerProcess, default_pki: DevPKI) -> None:
    response = _call(default_pki, "storefront", echo, "GET", "/whoami")
    assert response.status_code == 200
    assert response.json()["principal"] == "storefront"
    echo.wait_for_event("request", principal="storefront", path="/whoami", status=200)


def test_other_principal_gets_403_naming_it_and_the_route(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    response = _call(default_pki, "ops", echo, "GET", "/whoami")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == {
        "error": "forbidden",
        "principal": "ops",
        "route": "GET /whoami",
        "message": "ops is not allowed to call GET /whoami",
    }


def test_denial_is_audited_with_principal_and_route(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    assert _call(default_pki, "ops", echo, "GET", "/whoami").status_code == 403
    record = echo.wait_for_event("authorization denied", principal="ops", route="GET /whoami")
    assert record["logger"] == "mtls.audit"
    assert record["level"] == "warning"
    echo.wait_for_event("request", principal="ops", path="/whoami", status=403)


def test_policy_applies_per_route(echo: ServerProcess, default_pki: DevPKI) -> None:
    assert _call(default_pki, "ops", echo, "POST", "/ops-only").json() == {"ok": "ops"}
    denied = _call(default_pki, "storefront", echo, "POST", "/ops-only")
    assert denied.status_code == 403
    assert denied.json()["detail"]["route"] == "POST /ops-only"


def test_health_is_open_to_any_authenticated_principal(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    for name in ("storefront", "ops", "payments", "orders"):
        response = _call(default_pki, name, echo, "GET", "/health")
        assert response.status_code == 200, name
        body = response.json()
        assert body["status"] == "ok"
        leaf = body["certificates"][0]
        assert leaf["role"] == "leaf"
        assert leaf["spiffe_id"] == "spiffe://demo.internal/orders"


def test_metrics_are_for_ops_only(echo: ServerProcess, default_pki: DevPKI) -> None:
    denied = _call(default_pki, "storefront", echo, "GET", "/metrics")
    assert denied.status_code == 403
    assert denied.json()["detail"]["route"] == "GET /metrics"
    response = _call(default_pki, "ops", echo, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for metric in (
        "mtls_certificate_expiry_timestamp_seconds",
        "mtls_handshakes_total",
        "mtls_requests_total",
        "mtls_authorization_denials_total",
    ):
        assert metric in text
    assert 'mtls_authorization_denials_total{principal="storefront",route="GET /metrics"}' in text


def test_unknown_route_is_404_for_an_authenticated_caller(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    response = _call(default_pki, "storefront", echo, "GET", "/nowhere")
    assert response.status_code == 404
