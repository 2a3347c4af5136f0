"""A small app served by the toolkit: it shows a handler what mTLS tells it.

Run as `python -m echo_app` (port from ECHO_PORT) or from the plain uvicorn
command line with `--factory echo_app:create_app_from_env`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import Depends, FastAPI, Request
from mtls import Principal, TLSContexts, TLSSettings, allow
from mtls.app import secure_app
from mtls.process import run_service


def create_app(contexts: TLSContexts) -> FastAPI:
    app = FastAPI(title="echo", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/whoami")
    async def whoami(
        request: Request, principal: Principal = Depends(allow("storefront"))
    ) -> dict[str, Any]:
        return {
            "principal": principal.name,
            "spiffe_id": principal.spiffe_id,
            "serial": f"{principal.serial:x}",
            "tls": request.scope["extensions"]["tls"],
            "client_port": request.client.port if request.client else None,
        }

    @app.get("/slow", dependencies=[Depends(allow("storefront"))])
    async def slow(seconds: float) -> dict[str, float]:
        """A request still in flight while the test changes something (e.g. revokes)."""
        await asyncio.sleep(min(seconds, 15.0))
        return {"slept": seconds}

    @app.post("/ops-only", dependencies=[Depends(allow("ops"))])
    async def ops_only() -> dict[str, str]:
        return {"ok": "ops"}

    if os.environ.get("ECHO_UNDECLARED_ROUTE"):

        @app.get("/forgotten")
        async def forgotten() -> dict[str, str]:
            return {"open": "to anyone"}

    return secure_app(app, contexts)


def create_app_from_env() -> FastAPI:
    return create_app(TLSContexts(TLSSettings()))


if __name__ == "__main__":
    run_service("echo", create_app, host="127.0.0.1", port=int(os.environ["ECHO_PORT"]))
