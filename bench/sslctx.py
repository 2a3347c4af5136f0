"""What building one client SSLContext costs: why the toolkit builds it once.

Measured in this process, in CPU time: the toolkit's client context (our CA
bundle, our certificate and key, strict flags), and for contrast Python's
default context with the system's trust store, which is what `httpx` builds
when it is given no context.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path

from harness.clients import toolkit_client_context as bench_client_context


def _cost_ms(build: Callable[[], object], times: int) -> list[float]:
    costs = []
    for _ in range(times):
        started = time.process_time()
        build()
        costs.append((time.process_time() - started) * 1000)
    return costs


def measure(pki: Path, times: int) -> dict[str, list[float]]:
    name = "orders"
    cert, key, ca = pki / name / "chain.pem", pki / name / "key.pem", pki / "ca.crt"
    variants: dict[str, Callable[[], object]] = {
        "toolkit client context (CA bundle, cert, key)": lambda: bench_client_context(
            cert, key, ca
        ),
        "ssl.create_default_context() (system store)": ssl.create_default_context,
    }
    results = {}
    for label, build in variants.items():
        build()  # first use: imports and caches
        results[label] = _cost_ms(build, times)
    return results
