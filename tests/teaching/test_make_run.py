"""`make run`, as a newcomer types it, and Ctrl-C, as a terminal sends it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from harness.ports import free_port
from harness.processes import REPO, process_env


@pytest.mark.slow
def test_ctrl_c_on_make_run_stops_both_services_cleanly_and_says_so(tmp_path: Path) -> None:
    orders, payments = free_port(), free_port()
    env = process_env(
        {
            "ORDERS_PORT": str(orders),
            "PAYMENTS_PORT": str(payments),
            "ORDERS_PAYMENTS_URL": f"https://localhost:{payments}",
            "PAYMENTS_ORDERS_URL": f"https://localhost:{orders}",
            "ORDERS_DB_PATH": str(tmp_path / "orders.db"),
            "PAYMENTS_DB_PATH": str(tmp_path / "payments.db"),
        }
    )
    run = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"CERTS_DIR={tmp_path / 'pki'}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    lines: list[str] = []
    assert run.stdout is not None
    deadline = time.monotonic() + 60
    while sum('"serving over mtls"' in line for line in lines) < 2:
        assert time.monotonic() < deadline, "".join(lines)
        line = run.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)

    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C does: SIGINT to the whole group
    rest, _ = run.communicate(timeout=20)
    output = "".join(lines) + rest

    assert "Segmentation fault" not in output, output
    assert "stopped orders and payments" in output, output
    # make itself got the SIGINT too and ends by it, as after any Ctrl-C (a shell shows 130).
    assert run.returncode in (0, -signal.SIGINT), output
    for port in (orders, payments):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_project_licence_is_an_spdx_expression_not_the_deprecated_table() -> None:
    """setuptools warns that a `project.license` table stops building on 2027-02-18."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert any(req.startswith("setuptools>=77") for req in project["build-system"]["requires"])
