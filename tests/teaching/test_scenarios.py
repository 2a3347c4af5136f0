"""`make scenarios` against real services: each scenario refused (or accepted) as expected."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from service_pair import ServicePair
from teach_support import running_lab

from harness.processes import REPO, run_module
from tools.scenarios import SCENARIOS, Outcome, run
from tools.scenarios_table import render

# What each scenario leaves in the server's log (read back through its counters).
SERVER_LINES = {
    "certificate_required": "tls handshake refused reason=certificate_required",
    "unknown_ca": "tls handshake refused reason=unknown_ca",
    "expired": "tls handshake refused reason=expired",
    "identity_refused": "identity refused",
    "forbidden": "authorization denied principal=storefront",
    "hostname_mismatch": "tls handshake refused reason=peer_rejected_certificate",
    "revoked": "tls handshake refused reason=revoked",
    "protocol_version": "tls handshake refused reason=protocol_version",
    "ok": "request principal=storefront status=200",
}


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServicePair, dict[str, Outcome]]]:
    with running_lab(tmp_path_factory.mktemp("scenarios")) as (pair, lab):
        yield pair, {s.expected_cause: run(lab, s) for s in SCENARIOS}


@pytest.mark.parametrize("cause", [s.expected_cause for s in SCENARIOS])
def test_each_scenario_is_refused_as_expected_and_named_by_the_doctor(
    outcomes: tuple[ServicePair, dict[str, Outcome]], cause: str
) -> None:
    outcome = outcomes[1][cause]
    assert outcome.refused == outcome.scenario.refused, outcome
    assert outcome.cause == cause, outcome
    assert outcome.as_expected


@pytest.mark.parametrize("cause", [s.expected_cause for s in SCENARIOS])
def test_the_server_column_shows_the_line_the_server_logged(
    outcomes: tuple[ServicePair, dict[str, Outcome]], cause: str
) -> None:
    pair, found = outcomes
    outcome = found[cause]
    assert any(SERVER_LINES[cause] in line for line in outcome.server_logged), outcome
    if "reason=" in SERVER_LINES[cause]:
        reason = SERVER_LINES[cause].rsplit("=", 1)[1]
        server = pair.payments if cause == "forbidden" else pair.orders
        assert server is not None
        assert server.events("tls handshake refused"), "the counter matches a real log line"
        assert any(e["reason"] == reason for e in server.events("tls handshake refused"))


def test_rotation_shows_two_serials_both_accepted(
    outcomes: tuple[ServicePair, dict[str, Outcome]],
) -> None:
    saw = outcomes[1]["ok"].client_saw
    assert re.search(
        r"serial [0-9a-f]+\.\.\.: HTTP 200; renewed: serial [0-9a-f]+\.\.\.: HTTP 200", saw
    )


def test_table_lists_every_scenario_and_uses_colour_only_when_asked(
    outcomes: tuple[ServicePair, dict[str, Outcome]],
) -> None:
    rows = list(outcomes[1].values())
    plain = render(rows, colour=False, width=140)
    assert "\033[" not in plain
    assert f"{len(SCENARIOS)}/{len(SCENARIOS)} scenarios behaved as expected" in plain
    for scenario in SCENARIOS:
        assert scenario.title.split(" (")[0] in plain
    assert max(len(line) for line in plain.splitlines()) <= 140
    assert "\033[32m" in render(rows, colour=True, width=140)


@pytest.mark.slow
def test_make_scenarios_command_prints_the_table_and_exits_zero(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_lab(tmp_path_factory.mktemp("scenarios-cli")) as (pair, _):
        args = ["--orders", pair.orders_url, "--payments", pair.payments_url]
        result = run_module("tools.scenarios", {}, *args, "--pki", str(pair.pki_dir), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9/9 scenarios behaved as expected" in result.stdout
    assert "what the server logged" in result.stdout
    assert (REPO / "mk" / "teach.mk").read_text().count("tools.scenarios") == 1
