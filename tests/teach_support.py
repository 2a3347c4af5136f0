"""Shared by the teaching tests: a running ServicePair with a scenarios Lab beside it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devpki import DevPKI
from support import REPO

from services import ServicePair

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the `tools` package lives at the top of the repo

from tools.lab import Lab


@contextmanager
def running_lab(base: Path) -> Iterator[tuple[ServicePair, Lab]]:
    """Both services on a fresh PKI under `base`, and a scratch Lab using that PKI's CA."""
    pki = DevPKI(base / "pki")
    pki.make_default()
    (base / "data").mkdir()
    (base / "scratch").mkdir()
    with ServicePair.start(pki.directory, base / "data") as pair:
        urls = {"orders": pair.orders_url, "payments": pair.payments_url}
        yield pair, Lab(pki.directory, base / "scratch", urls)
