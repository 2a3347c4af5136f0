"""`make bench` keeps working: its quickest profile runs every measurement end to end.

No figure is asserted (performance belongs to the bench, not to tests); what
is checked is that each measurement really happened as designed: requests
answered without errors over each transport, sessions resumed only where
asked, handshakes counted on the chain, and the report and plot written. The
bench runs as people run it, `python -m bench`; the test reads its JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.processes import run_module


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smoke_bench_measures_every_variant_and_writes_the_report(tmp_path: Path) -> None:
    out, plot, figures = (
        tmp_path / "benchmarks.md",
        tmp_path / "benchmarks.png",
        tmp_path / "b.json",
    )
    args = ["--profile", "smoke", "--out", str(out), "--plot", str(plot), "--json", str(figures)]

    done = run_module("bench", {}, *args, timeout=580)

    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(figures.read_text())
    for measured in (*results["keepalive"].values(), *results["chain"].values()):
        assert measured["requests"] > 0
        assert measured["errors"] == 0
    assert set(results["keepalive"]) == {"plain", "plain-coalesced", "tls", "mtls"}
    assert len(results["handshakes"]) >= 4
    for case, measured in results["handshakes"].items():
        resumed = measured["resumed"]
        assert resumed > 0.5 if measured["resume"] else resumed == 0.0, case
    assert len(results["chain"]["mtls"]["handshakes"]) == 1  # read from both servers' metrics
    assert all(count >= 0 for count in results["chain"]["mtls"]["handshakes"])
    report = out.read_text()
    assert "## Verdicts" in report
    verdicts = len(results["verdicts"])
    assert report.count("| met |") + report.count("| NOT met |") == verdicts == 5
    assert plot.read_bytes().startswith(b"\x89PNG")
