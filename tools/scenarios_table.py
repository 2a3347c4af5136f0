"""The scenarios table: wrapped columns that fit the terminal, colours only on a TTY."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mtls.doctor.report import paint

if TYPE_CHECKING:
    from tools.scenarios import Outcome

HEADERS = ("scenario", "what the client saw", "what the server logged", "doctor: cause / fix")
WEIGHTS = (18, 34, 26, 34)


def _widths(total: int) -> list[int]:
    usable = max(total - 3 * len(WEIGHTS) - 6, 60)
    return [max(12, usable * w // sum(WEIGHTS)) for w in WEIGHTS]


def _row(cells: Sequence[str], widths: list[int], mark: str) -> list[str]:
    wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths, strict=True)]
    height = max(len(w) for w in wrapped)
    lines = []
    for i in range(height):
        parts = [
            (col[i] if i < len(col) else "").ljust(w)
            for col, w in zip(wrapped, widths, strict=False)
        ]
        lines.append(f"{mark if i == 0 else '    '} " + " | ".join(parts))
    return lines


def render(outcomes: Sequence[Outcome], colour: bool, width: int | None = None) -> str:
    widths = _widths(width or shutil.get_terminal_size((140, 40)).columns)
    rule = "-" * (sum(widths) + 3 * (len(widths) - 1) + 5)
    lines = [*_row(HEADERS, widths, "    "), rule]
    for outcome in outcomes:
        expected = outcome.as_expected
        mark = paint(" ok " if expected else "FAIL", "ok" if expected else "fail", colour)
        cells = (
            outcome.scenario.title,
            outcome.client_saw,
            "; ".join(outcome.server_logged) or "(nothing counted)",
            f"{outcome.cause}: {outcome.fix}" if outcome.cause != "ok" else "ok: nothing to fix",
        )
        lines += [*_row(cells, widths, mark), rule]
    passed = sum(o.as_expected for o in outcomes)
    lines.append(f"{passed}/{len(outcomes)} scenarios behaved as expected")
    return "\n".join(lines)
