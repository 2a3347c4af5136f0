"""Authorization: each route names the principals it allows; everything else is denied.

A route opts in with a dependency, `Depends(allow("storefront"))`, which also
hands the handler the caller's `Principal`. `require_policies` runs when the
app is built: a route without a policy stops the start-up and is named, so no
route is ever served open by accident (docs and health declare theirs too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from mtls.identity import CertificateExpired, IdentityError, Principal, principal_from_scope
from mtls.logs import audit
from mtls.metrics import AUTHZ_DENIALS, CONNECTIONS_CLOSED
from mtls.tlsscope import peer_of

ANY_PRINCIPAL = "*"
EXCERPT_CHARS = 80  # of an invalid input, in a 422


class UndeclaredPolicyError(RuntimeError):
    """A route was registered without an access policy."""


class Allow:
    """A FastAPI dependency: the caller must be one of `principals` ("*": any authenticated)."""

    def __init__(self, *principals: str) -> None:
        if not principals:
            raise ValueError("allow() needs at least one principal, or ANY_PRINCIPAL")
        self.principals = frozenset(principals)

    def __repr__(self) -> str:
        return f"allow({', '.join(sorted(self.principals))})"

    async def __call__(self, request: Request) -> Principal:
        principal = authenticate(request)
        if ANY_PRINCIPAL not in self.principals and principal.name not in self.principals:
            route = route_label(request)
            AUTHZ_DENIALS.labels(principal.name, route).inc()
            audit("authorization denied", logging.WARNING, principal=principal.name, route=route)
            raise HTTPException(
                status_code=403,
                detail={
                    "error": "forbidden",
                    "principal": principal.name,
                    "route": route,
                    "message": f"{principal.name} is not allowed to call {route}",
                },
            )
        return principal


def allow(*principals: str) -> Allow:
    """The policy of a route: `dependencies=[Depends(allow("orders"))]`."""
    return Allow(*principals)


def authenticate(request: Request) -> Principal:
    """The caller's principal, read from the scope; 403 with the reason when there is none.

    An expired certificate (on a kept-alive connection or a resumed session) is refused
    here, and its connection closes after this answer.
    """
    try:
        return principal_from_scope(request.scope).require_unexpired()
    except IdentityError as exc:
        _refuse_identity(request, exc)


def _refuse_identity(request: Request, exc: IdentityError) -> NoReturn:
    peer = peer_of(request.scope)
    certificate = exc.certificate.as_fields() if exc.certificate else {}
    audit(
        "identity refused",
        logging.WARNING,
        route=route_label(request),
        reason=str(exc),
        peer=peer,
        **certificate,
    )
    headers = None
    if isinstance(exc, CertificateExpired):
        headers = {"Connection": "close"}  # uvicorn closes the connection after this answer
        CONNECTIONS_CLOSED.labels("expired").inc()
        audit("tls connection closed", logging.WARNING, peer=peer, reason="expired", **certificate)
    raise HTTPException(
        status_code=403,
        detail={"error": "no usable identity", "reason": str(exc)},
        headers=headers,
    ) from None


def route_label(request: Request) -> str:
    """`METHOD /path/{template}`: bounded, so safe as a metric label."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return f"{request.method} {path}"


def _policies_of(dependant: Dependant) -> Iterator[Allow]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Allow):
            yield dependency.call
        yield from _policies_of(dependency)


def _has_policy(dependant: Dependant) -> bool:
    return any(True for _ in _policies_of(dependant))


async def authorize_before_validation(request: Request, exc: RequestValidationError) -> Response:
    """A body FastAPI could not parse is refused as 403 when the caller may not call the route.

    FastAPI parses the body before it runs dependencies, so without this a caller outside
    the policy would learn the route's schema from a 422. The 422 carries an excerpt of
    each invalid input, not the input.
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    try:
        for policy in _policies_of(dependant) if dependant else ():
            await policy(request)
    except HTTPException as denied:
        return await http_exception_handler(request, denied)
    errors = [{**error, "input": _excerpt(error.get("input"))} for error in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def _excerpt(value: Any) -> Any:
    """The offending input, or its first characters: a 422 never echoes megabytes back."""
    try:
        text = json.dumps(jsonable_encoder(value))
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= EXCERPT_CHARS:
        return value
    return f"{text[:EXCERPT_CHARS]}... ({len(text)} characters)"


def _undeclared(routes: Iterable[BaseRoute], inherited: bool = False) -> Iterator[str]:
    """Routes without a policy, looking through included routers (FastAPI >= 0.16x keeps them
    nested, with the include's dependencies beside them)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            extra = getattr(context, "dependencies", None) or []
            policy = any(isinstance(getattr(d, "dependency", None), Allow) for d in extra)
            yield from _undeclared(included.routes, inherited or policy)
        elif not (inherited or (isinstance(route, APIRoute) and _has_policy(route.dependant))):
            methods = ",".join(sorted(getattr(route, "methods", None) or ["*"]))
            yield f"{methods} {getattr(route, 'path', type(route).__name__)}"


def require_policies(app: FastAPI) -> None:
    """Refuse to start when a route declares no policy (deny by default)."""
    for route in _undeclared(app.routes):
        raise UndeclaredPolicyError(
            f"route {route} declares no access policy; add "
            "dependencies=[Depends(allow(...))] naming who may call it"
        )
