"""The facts of the machine a run happened on, for the report."""

from __future__ import annotations

import os
import platform
import ssl
import sys
import time
from importlib.metadata import version
from pathlib import Path

PACKAGES = (
    "uvicorn",
    "uvloop",
    "httptools",
    "fastapi",
    "starlette",
    "httpx",
    "httpx-aiohttp",
    "aiohttp",
)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def facts() -> dict[str, str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "load average at the end (1, 5, 15 min)": load,
        "kernel": platform.release(),
        "Python": sys.version.split()[0],
        "OpenSSL (Python's)": ssl.OPENSSL_VERSION,
        **{name: version(name) for name in PACKAGES},
    }
