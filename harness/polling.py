"""Waiting for something that happens in another process: poll, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T | None], what: str, timeout: float = 15.0, every: float = 0.05
) -> T:
    """Poll `check` every `every` seconds until it returns something truthy, and return
    that; fail (AssertionError) naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
