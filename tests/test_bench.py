"""`make bench` keeps working: its quickest profile runs every measurement end to end.

No figure is asserted (performance belongs to the bench, not to tests); what
is checked is that each measurement really happened as designed: requests
answered without errors over each transport, sessions resumed only where
asked, handshakes counted on the chain, and the report and plot written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import run
from bench.handshakes import CASES


@pytest.mark.slow
def test_smoke_bench_measures_every_variant_and_writes_the_report(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    out, plot = tmp_path / "benchmarks.md", tmp_path / "benchmarks.png"

    results = run("smoke", out, plot, work)

    for figures in (*results.keepalive.values(), *results.chain.values()):
        assert figures.requests > 0
        assert figures.errors == 0
    assert set(results.keepalive) == {"plain", "plain-coalesced", "tls", "mtls"}
    for case in CASES:
        resumed = results.handshakes[case].resumed
        assert resumed > 0.5 if case.resume else resumed == 0.0, case
    assert len(results.chain["mtls"].handshakes) == 1  # read from both servers' metrics
    assert all(count >= 0 for count in results.chain["mtls"].handshakes)
    report = out.read_text()
    assert "## Verdicts" in report
    assert report.count("| met |") + report.count("| NOT met |") == len(results.verdicts) == 5
    assert plot.read_bytes().startswith(b"\x89PNG")
