"""What the certificate doctor found, and how it is printed.

Each step of the diagnosis is one `Check` (ok, warn, fail or info, a short
label, what was seen, and for a failure what to change); the `Verdict` names
one cause as a stable slug, so people read a sentence and tests and the
scenarios table read the slug. Colours only when writing to a terminal.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Literal, TextIO

Status = Literal["ok", "warn", "fail", "info"]
_COLOURS = {"ok": "32", "warn": "33", "fail": "31", "info": "36"}


@dataclass(frozen=True)
class Check:
    status: Status
    label: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Verdict:
    """The one cause the doctor names: a slug, what happened, what to change."""

    cause: str
    summary: str
    fix: str

    @property
    def ok(self) -> bool:
        return self.cause == "ok"


@dataclass
class Report:
    target: str
    local: list[Check] = field(default_factory=list)
    connection: list[Check] = field(default_factory=list)
    verdict: Verdict = field(default_factory=lambda: Verdict("unknown", "not diagnosed", ""))

    def failed(self, label: str) -> Check | None:
        """The failed check with this label, if any."""
        return next((c for c in self.checks if c.label == label and c.status == "fail"), None)

    @property
    def checks(self) -> list[Check]:
        return [*self.local, *self.connection]


def use_colour(stream: TextIO) -> bool:
    """Colours only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, status: Status, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text


def _section(title: str, checks: list[Check], colour: bool) -> list[str]:
    lines = [title]
    for check in checks:
        mark = paint(f"{check.status.upper():<4}", check.status, colour)
        lines.append(f"  {mark}  {check.label:<20} {check.detail}")
        if check.fix:
            lines.append(f"        {'':<20} -> {check.fix}")
    return lines


def render(report: Report, colour: bool = False) -> str:
    """The report as text: local files, then the connection, then the verdict."""
    lines = [f"mtls doctor: {report.target}", ""]
    if report.local:
        lines += [*_section("Local files", report.local, colour), ""]
    lines += [*_section("Connection, step by step", report.connection, colour), ""]
    verdict = report.verdict
    state: Status = "ok" if verdict.ok else "fail"
    lines.append(f"Verdict: {paint(verdict.cause, state, colour)}")
    lines.append(f"  what happened:  {verdict.summary}")
    if not verdict.ok:
        lines.append(f"  what to change: {verdict.fix}")
    return "\n".join(lines)


def print_report(report: Report, stream: TextIO = sys.stdout) -> None:
    print(render(report, use_colour(stream)), file=stream)
