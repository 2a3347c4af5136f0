"""`python -m mtls inventory`: one table of every certificate the running services use."""

from __future__ import annotations

from pathlib import Path

from devpki import DevPKI
from service_pair import ServicePair

from harness.processes import run_module, tls_env


def test_inventory_lists_each_services_leaf_and_the_shared_trust_once(
    default_pki: DevPKI, pair: ServicePair, tmp_path: Path
) -> None:
    png = tmp_path / "timeline.png"
    ops = tls_env(default_pki.directory, "ops")
    urls = [pair.orders_url, pair.payments_url]

    done = run_module("mtls", ops, "inventory", *urls, "--png", str(png))

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["owner", "role", "subject", "SPIFFE", "ID", "serial", "issuer",
                                "not", "after", "days", "status"]  # fmt: skip
    for service in ("orders", "payments"):
        serial = f"{default_pki.leaf(service).serial:x}"
        (row,) = [line for line in lines if f" {serial} " in line]
        assert row.startswith(f"{service} "), row
        assert " leaf " in row, row
        assert f"spiffe://demo.internal/{service}" in row
        assert row.rstrip().endswith(" ok")
    (anchor,) = [line for line in lines if " trusted_ca " in line]
    assert anchor.startswith("orders, payments "), "a CA both trust is one row naming both"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert f"wrote {png}" in lines[-1]


def test_inventory_without_a_client_certificate_says_how_to_give_one(tmp_path: Path) -> None:
    done = run_module("mtls", {"MTLS_PKI_DIR": str(tmp_path)}, "inventory", "https://localhost:1")

    assert done.returncode == 2
    assert "MTLS_IDENTITY" in done.stderr or "MTLS_CERT" in done.stderr
    assert "Traceback" not in done.stderr
