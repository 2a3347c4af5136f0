"""docs/workshop.md runs as written: every ```console command, in order, against real services.

The workshop is done in a fresh folder (its PKI lands in certs/generated there,
as in a clone); where the document says the services start (`make run`), the
test starts both as real processes on free ports instead, and 8443/9443 in
commands and outputs become those ports. `...` in an expected output matches
anything, as in doctest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from service_pair import ServicePair
from teach_support import expected_pattern

from harness.processes import REPO, process_env

DOC = REPO / "docs" / "workshop.md"
SERVICES_MARKER = "<!-- workshop: services start here -->"


@dataclass(frozen=True)
class Step:
    command: str
    expected: str
    needs_services: bool


def steps(text: str) -> list[Step]:
    """The `$ command` lines of the console blocks, each with the output that follows it."""
    found: list[Step] = []
    for match in re.finditer(r"```console\n(.*?)```", text, flags=re.S):
        needs_services = SERVICES_MARKER in text[: match.start()]
        command, output = "", []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                if command:
                    found.append(Step(command, "\n".join(output), needs_services))
                command, output = line[2:], []
            else:
                output.append(line)
        found.append(Step(command, "\n".join(output), needs_services))
    return found


def pattern(expected: str) -> re.Pattern[str]:
    return re.compile(expected_pattern(expected), flags=re.S)


def run(command: str, cwd: Path) -> str:
    bin_dir = str(Path(sys.executable).parent)
    env = process_env({"PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])})
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return "\n".join(line.rstrip() for line in done.stdout.splitlines())


def test_the_workshop_has_every_part_the_issue_asks_for() -> None:
    text = DOC.read_text()
    commands = " ".join(step.command for step in steps(text))
    for tool in (
        "devpki make-default",
        "devpki inspect",
        "openssl s_client",
        "curl",
        "renew",
        "revoke",
        "--days 20",
        "mtls doctor",
    ):
        assert tool in commands, tool
    assert text.count("**6") == 6, "six ways to break it"
    assert SERVICES_MARKER in text


@pytest.mark.slow
def test_every_workshop_command_prints_what_the_document_says(tmp_path: Path) -> None:
    for tool in ("curl", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the workshop uses it)")
    workdir = tmp_path / "workshop"
    workdir.mkdir()
    pair_context = None
    ports = {"8443": "8443", "9443": "9443"}
    try:
        for step in steps(DOC.read_text()):
            if step.needs_services and pair_context is None:
                (tmp_path / "data").mkdir()
                pair_context = ServicePair.start(workdir / "certs" / "generated", tmp_path / "data")
                pair = pair_context.__enter__()
                ports = {"8443": str(pair.orders_port), "9443": str(pair.payments_port)}
            command, expected = step.command, step.expected
            for default, port in ports.items():
                command, expected = command.replace(default, port), expected.replace(default, port)
            output = run(command, workdir)
            assert pattern(expected).search(output), (
                f"$ {command}\n--- expected:\n{expected}\n--- got:\n{output}"
            )
    finally:
        if pair_context is not None:
            pair_context.__exit__(None, None, None)
