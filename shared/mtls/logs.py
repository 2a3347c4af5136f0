"""Structured logs: one JSON object a line, and the audit trail of certificate events.

Operators grep and ship these lines; a JSON line per event keeps the fields
(principal, route, reason, serial) machine-readable. Nothing here ever logs
key material: only serials, subjects, fingerprints and reasons.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

AUDIT_LOGGER = "mtls.audit"
ACCESS_LOGGER = "mtls.access"
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JSONFormatter(logging.Formatter):
    """Render a record as one JSON line; `extra=` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _DropPlainHTTPBanner(logging.Filter):
    """uvicorn announces http:// because `mtls.protocol` terminates TLS, not uvicorn."""

    def filter(self, record: logging.LogRecord) -> bool:
        plain = isinstance(record.args, tuple) and record.args[:1] == ("http",)
        return not (str(record.msg).startswith("Uvicorn running on") and plain)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger, uvicorn's included, to stdout (or `stream`) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(_DropPlainHTTPBanner())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Our access log names the caller's principal; uvicorn's cannot. httpx's
    # per-request INFO lines would repeat what the peer's access log says.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)


def audit(event: str, level: int = logging.INFO, /, **fields: Any) -> None:
    """Write one audit line for a certificate event (refusal, denial, reload, expiry)."""
    logging.getLogger(AUDIT_LOGGER).log(level, event, extra=fields)


def uvicorn_log_config() -> dict[str, Any]:
    """A logging config for uvicorn.Config that leaves the handlers to `configure_logging`."""
    return {"version": 1, "disable_existing_loggers": False}
