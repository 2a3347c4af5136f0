"""`python -m bench [--profile full|quick|smoke] [--out FILE] [--plot FILE] [--json FILE]`.

Runs the five measurements in one go, prints the tables and the verdicts, and
writes the markdown report and the plot. `make bench` writes
docs/benchmarks.md and docs/benchmarks.png; `make bench QUICK=1` (CI) writes
to a temporary folder unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import attacks, chain, handshakes, keepalive, sslctx
from bench.machine import facts
from bench.pki import make_pki
from bench.profile import PROFILES
from bench.report import draw, text
from bench.results import Results, as_json, evaluate


def _timed(title: str, step: Any, *args: Any) -> Any:
    started = time.monotonic()
    print(f"bench: {title}...", file=sys.stderr, flush=True)
    result = step(*args)
    print(f"bench: {title}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def run(profile_name: str, out: Path, plot: Path | None, work: Path) -> Results:
    """Measure everything with this profile, in `work`; write the report (and plot)."""
    profile = PROFILES[profile_name]
    pki = make_pki(work / "pki")
    logs, data = work / "logs", work / "data"
    logs.mkdir()
    data.mkdir()
    raw = {
        "contexts": _timed("SSLContext builds", sslctx.measure, pki, profile.context_builds),
        "keepalive": _timed("kept-alive endpoint", keepalive.measure, pki, logs, profile),
        "handshakes": _timed("full handshakes", handshakes.measure, pki, logs, profile),
        "chain": _timed("whole chain", chain.measure, pki, data, logs, profile),
        "attacks": _timed("/health under attack", attacks.measure, pki, logs, profile),
    }
    results = evaluate(raw)
    plot_link = None
    if plot is not None:
        draw(results, plot)
        plot_link = plot.name if plot.parent == out.parent else str(plot)
    report = text(results, facts(), profile.name, plot_link)
    out.write_text(report)
    print(report.split("## How it is measured")[0])
    print(f"bench: wrote {out}" + (f" and {plot}" if plot else ""), file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--out", type=Path, help="markdown report (default: a temporary file)")
    parser.add_argument("--plot", type=Path, help="PNG plot (default: none)")
    parser.add_argument("--json", type=Path, help="the figures as JSON (default: none)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mtls-bench-") as tmp:
        work = Path(tmp)
        out = args.out or work / "benchmarks.md"
        results = run(args.profile, out, args.plot, work)
        if args.json is not None:
            args.json.write_text(json.dumps(as_json(results), indent=2) + "\n")
        if args.out is None:
            print("bench: (report not kept; pass --out to keep it)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
