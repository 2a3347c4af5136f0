"""Shared by the teaching tests: a running ServicePair with a scenarios Lab beside it."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devpki import DevPKI
from service_pair import ServicePair

from harness.processes import REPO

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


# A refused client certificate ends the connection while the client may still be sending:
# whether it then reads an empty reply or a reset depends on timing. Either is the same refusal.
SAME_REFUSAL = (
    "curl: (52) Empty reply from server",
    "curl: (56) Recv failure: Connection reset by peer",
)


def expected_pattern(expected: str) -> str:
    """A regex for an expected output: `...` matches anything; a line naming one form of
    SAME_REFUSAL matches any of them."""
    lines = []
    for line in (raw.rstrip() for raw in expected.splitlines()):
        if line in SAME_REFUSAL:
            lines.append("(?:" + "|".join(re.escape(form) for form in SAME_REFUSAL) + ")")
        else:
            lines.append(".*?".join(re.escape(part) for part in line.split("...")))
    return "\n".join(lines)
