"""Start-up checks: a bad setting stops `python -m echo_app` with exit 2 and one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from devpki import DevPKI

from harness.ports import free_port
from harness.processes import run_module, tls_env


def _start(pki: DevPKI, **overrides: str) -> tuple[int, str, str]:
    """Run the echo app to its end: (exit code, the single stderr line, stdout)."""
    env = {**tls_env(pki.directory, "orders"), "ECHO_PORT": str(free_port()), **overrides}
    result = run_module("echo_app", env)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "serving over mtls" not in result.stdout
    return result.returncode, lines[0], result.stdout


def test_missing_certificate_file_is_named(default_pki: DevPKI, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "chain.pem"
    code, line, _ = _start(default_pki, MTLS_CERT=str(missing))
    assert code == 2
    assert line.startswith("echo: cannot start: ")
    assert f"MTLS_CERT={missing}: no such file" in line
    assert "make certs" in line


def test_unreadable_key_is_named(default_pki: DevPKI, tmp_path: Path) -> None:
    # Root reads any file whatever its mode, so a directory stands in for an unreadable key.
    code, line, _ = _start(default_pki, MTLS_KEY=str(tmp_path))
    assert code == 2
    assert f"MTLS_KEY={tmp_path}: cannot read it" in line
    assert "owner and mode" in line


def test_key_that_is_not_a_key_is_named(default_pki: DevPKI, tmp_path: Path) -> None:
    garbage = tmp_path / "key.pem"
    garbage.write_text("not a key\n")
    code, line, _ = _start(default_pki, MTLS_KEY=str(garbage))
    assert code == 2
    assert f"MTLS_KEY={garbage}: not a PEM private key" in line


def test_key_not_matching_the_certificate_is_named(default_pki: DevPKI) -> None:
    other_key = default_pki.directory / "payments" / "key.pem"
    code, line, _ = _start(default_pki, MTLS_KEY=str(other_key))
    assert code == 2
    assert f"MTLS_KEY={other_key}: this key does not match the certificate" in line
    assert str(default_pki.directory / "orders" / "chain.pem") in line


def test_client_only_certificate_cannot_serve(default_pki: DevPKI) -> None:
    storefront = default_pki.directory / "storefront"
    code, line, _ = _start(
        default_pki,
        MTLS_CERT=str(storefront / "chain.pem"),
        MTLS_KEY=str(storefront / "key.pem"),
    )
    assert code == 2
    assert f"MTLS_CERT={storefront / 'chain.pem'}" in line
    assert "lacks the serverAuth extended key usage" in line


def test_ca_bundle_without_certificates_is_named(default_pki: DevPKI, tmp_path: Path) -> None:
    empty = tmp_path / "ca.crt"
    empty.write_text("# no certificates here\n")
    code, line, _ = _start(default_pki, MTLS_CA=str(empty))
    assert code == 2
    assert f"MTLS_CA={empty}: holds no PEM certificate" in line


@pytest.mark.parametrize("domain", ["spiffe://demo.internal", "Demo.Internal", "demo.internal/x"])
def test_malformed_trust_domain_is_named(default_pki: DevPKI, domain: str) -> None:
    code, line, _ = _start(default_pki, MTLS_TRUST_DOMAIN=domain)
    assert code == 2
    assert "MTLS_TRUST_DOMAIN" in line
    assert f"{domain!r} is not a SPIFFE trust domain" in line
    assert "demo.internal" in line


def test_route_without_policy_is_named(default_pki: DevPKI) -> None:
    code, line, _ = _start(default_pki, ECHO_UNDECLARED_ROUTE="1")
    assert code == 2
    assert "route GET /forgotten declares no access policy" in line
    assert "Depends(allow(" in line


def test_port_in_use_stops_without_claiming_to_serve(default_pki: DevPKI) -> None:
    """uvicorn binds after the app's start-up: "serving over mtls" must wait for the bind,
    or an operator (and a readiness check) would believe a dying process serves."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**tls_env(default_pki.directory, "orders"), "ECHO_PORT": str(port)}
        result = run_module("echo_app", env)
    assert result.returncode != 0
    assert "address already in use" in result.stdout
    assert "Application startup complete" in result.stdout  # uvicorn got that far...
    assert "serving over mtls" not in result.stdout  # ...yet never said it served
