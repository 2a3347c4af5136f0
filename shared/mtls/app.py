"""Wiring the toolkit into a FastAPI app: one call, `secure_app(app, contexts)`.

It adds what every mTLS service needs and nothing service-specific:
`/health` and `/metrics` with their
policies, the OpenAPI schema and docs behind authentication, the access log
with the caller's principal, and the deny-by-default check of every route.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from mtls.authz import ANY_PRINCIPAL, allow, authorize_before_validation, require_policies
from mtls.health import health_report
from mtls.identity import IdentityError, principal_from_scope
from mtls.logs import ACCESS_LOGGER
from mtls.metrics import REQUESTS, exposition
from mtls.reload import TLSContexts
from mtls.tlsscope import peer_of

access_logger = logging.getLogger(ACCESS_LOGGER)
METRICS_READERS = ("ops",)


def _toolkit_routes() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", dependencies=[Depends(allow(ANY_PRINCIPAL))])
    async def health(request: Request) -> JSONResponse:
        report = health_report(request.app.state.tls_contexts)
        status_code = 503 if report.status == "failing" else 200
        return JSONResponse(report.as_dict(), status_code=status_code)

    @router.get("/metrics", dependencies=[Depends(allow(*METRICS_READERS))])
    async def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    @router.get("/openapi.json", include_in_schema=False, dependencies=[Depends(allow("*"))])
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @router.get("/docs", include_in_schema=False, dependencies=[Depends(allow("*"))])
    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=request.app.title)

    return router


class AccessLog:
    """One JSON line per request, naming the caller's principal."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_note_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self._log(scope, status, time.perf_counter() - started)

    def _log(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        try:
            caller = principal_from_scope(scope)
            principal, serial = caller.name, f"{caller.serial:x}"
        except IdentityError:
            principal = serial = "-"
        REQUESTS.labels(principal, str(status)).inc()
        route = getattr(scope.get("route"), "path", None)
        access_logger.info(
            "request",
            extra={
                "principal": principal,
                "serial": serial,  # which certificate of the caller: shows rotation at work
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "peer": peer_of(scope),
            },
        )


def service_app(title: str, summary: str, lifespan: Any) -> FastAPI:
    """A FastAPI app without its open docs routes (`secure_app` serves them behind mTLS), and
    without slash redirects, whose Location would carry the client's own Host header."""
    return FastAPI(
        title=title,
        summary=summary,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )


def secure_app(app: FastAPI, contexts: TLSContexts) -> FastAPI:
    """Add the toolkit's routes and access log, then refuse routes without a policy."""
    app.state.tls_contexts = contexts
    app.include_router(_toolkit_routes())
    app.add_middleware(AccessLog)
    app.add_exception_handler(RequestValidationError, authorize_before_validation)  # type: ignore[arg-type]
    require_policies(app)
    return app
