"""`python -m mtls inventory URL...`: every certificate in use across a deployment, at once.

The seeds ask for "a detailed inventory of all certificates". Each service
already tells its own over mTLS (`/health`: its leaf, the CAs it trusts, the
CRLs it checks, with days left and status); this asks every service given,
as `ops`, and prints one table. A trust anchor or CRL that several services
share is one row naming all of them. `--png` draws the validity windows on a
timeline, with "now" and the warning threshold (matplotlib, `pip install '.[bench]'`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from mtls.contexts import client_context
from mtls.material import Role, load_material
from mtls.settings import TLSSettings

COLUMNS = ("owner", "role", "subject", "SPIFFE ID", "serial", "issuer", "not after", "days",
           "status")  # fmt: skip


@dataclass(frozen=True)
class Row:
    owner: str
    role: str
    subject: str
    spiffe_id: str
    serial: str
    issuer: str
    not_before: str
    not_after: str
    days_left: str
    status: str

    def cells(self) -> tuple[str, ...]:
        return (self.owner, self.role, self.subject, self.spiffe_id, self.serial, self.issuer,
                self.not_after, self.days_left, self.status)  # fmt: skip


def health_of(client: httpx.Client, url: str) -> dict[str, Any]:
    """A service's /health (200 or 503 both carry the report)."""
    answer = client.get(url.rstrip("/") + "/health")
    if answer.status_code not in (200, 503):
        answer.raise_for_status()
    report: dict[str, Any] = answer.json()
    return report


def _owner(url: str, report: dict[str, Any]) -> str:
    leaf = next((c for c in report["certificates"] if c["role"] == "leaf"), None)
    spiffe_id = (leaf or {}).get("spiffe_id") or ""
    return spiffe_id.rsplit("/", 1)[-1] if spiffe_id else urlsplit(url).netloc


def rows_of(owner: str, report: dict[str, Any]) -> list[Row]:
    rows = []
    for c in report["certificates"]:
        facts = (c["spiffe_id"] or "-", c["serial"], c["issuer"], c["not_before"], c["not_after"])
        rows.append(Row(owner, c["role"], c["subject"], *facts, str(c["days_left"]), c["status"]))
    for crl in report.get("crls", []):
        days = "-" if crl["hours_left"] is None else str(crl["hours_left"] // 24)
        name = f"CRL #{crl['crl_number']} ({crl['revoked']} revoked)"
        dates = (crl["this_update"], crl["next_update"] or "-")
        rows.append(Row(owner, "crl", name, "-", "-", crl["issuer"], *dates, days, crl["status"]))
    return rows


def merged(rows: Sequence[Row]) -> list[Row]:
    """One row per certificate or CRL; a shared one names every owner."""
    by_key: dict[tuple[str, ...], Row] = {}
    for row in rows:
        key = (row.role, row.subject, row.serial, row.issuer, row.not_after)
        known = by_key.get(key)
        by_key[key] = row if known is None else replace(known, owner=f"{known.owner}, {row.owner}")
    return sorted(by_key.values(), key=lambda r: (r.role != "leaf", r.role, r.owner, r.subject))


def inventory(urls: Sequence[str], settings: TLSSettings) -> list[Row]:
    """Ask every service, over mTLS with this process's certificate (MTLS_*), for its facts."""
    context = client_context(load_material(settings, (Role.CLIENT,)))
    rows: list[Row] = []
    with httpx.Client(verify=context, timeout=5.0) as client:
        for url in urls:
            report = health_of(client, url)
            rows += rows_of(_owner(url, report), report)
    return merged(rows)


def render(rows: Sequence[Row]) -> str:
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in table)  # fmt: skip


def _day(moment: datetime) -> float:
    """matplotlib's date number (days since 1970-01-01 UTC): what `xaxis_date` shows as dates."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400


def draw_timeline(rows: Sequence[Row], png: Path, warning_days: int) -> None:
    """One bar per validity window (certificates and CRLs), "now" and the warning threshold.

    The view spans the coming 13 months, where renewals happen; a longer window (a root
    CA's ten years) runs off the edge, with its end date written on the bar.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    now = datetime.now(UTC)
    dated = [r for r in rows if r.not_after != "-"]
    view = (_day(now - timedelta(days=30)), _day(now + timedelta(days=400)))
    figure, axes = pyplot.subplots(figsize=(11, 0.5 * len(dated) + 1.5))
    for index, row in enumerate(dated):
        start, end = (_day(datetime.fromisoformat(t)) for t in (row.not_before, row.not_after))
        colour = {"ok": "tab:green", "degraded": "tab:orange"}.get(row.status, "tab:red")
        axes.barh(index, end - start, left=start, color=colour, height=0.6)
        label = f"{row.not_after[:10]} ({row.days_left} d)"
        inside = end > view[1] - 80  # no room after the bar: write it on the bar's right end
        ha, ink = ("right", "white") if inside else ("left", "black")
        axes.text(min(end, view[1]), index, f" {label} ", va="center", ha=ha, color=ink, size=8)
    axes.set_yticks(range(len(dated)), [f"{r.owner}: {r.role} {r.subject.split(',')[0]}"
                                        for r in dated])  # fmt: skip
    axes.set_xlim(*view)
    axes.xaxis_date()
    axes.axvline(_day(now), color="black", label="now")
    warn = _day(now + timedelta(days=warning_days))
    axes.axvline(warn, color="tab:orange", linestyle="--", label=f"now + {warning_days} days")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    axes.set_title("certificates and CRLs in use: validity windows")
    figure.tight_layout()
    figure.savefig(png)
    pyplot.close(figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("urls", nargs="+", help="https://host:port of each service")
    parser.add_argument("--png", type=Path, help="also draw the validity timeline here")


def run(args: argparse.Namespace) -> int:
    """Print the table; 0 when every certificate and CRL is ok, 1 when one is not.

    Without a usable client certificate (MTLS_IDENTITY=ops), or with a service down, it
    raises: `python -m mtls` prints that as one line.
    """
    settings = TLSSettings()
    rows = inventory(args.urls, settings)
    print(render(rows))
    if args.png is not None:
        draw_timeline(rows, args.png, settings.expiry_warning_days)
        print(f"wrote {args.png}")
    return 0 if all(row.status == "ok" for row in rows) else 1
