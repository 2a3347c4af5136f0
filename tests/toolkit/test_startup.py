"""Start-up checks: a bad setting stops `python -m echo_app` with exit 2 and one line."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

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


def _unreadable_key(pki: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    # Root reads any file whatever its mode, so a directory stands in for an unreadable key.
    return {"MTLS_KEY": str(tmp)}, [f"MTLS_KEY={tmp}: cannot read it", "owner and mode"]


def _garbage_key(pki: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    (tmp / "key.pem").write_text("not a key\n")
    return {"MTLS_KEY": str(tmp / "key.pem")}, [
        f"MTLS_KEY={tmp / 'key.pem'}: not a PEM private key"
    ]


def _another_key(pki: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    other = pki / "payments" / "key.pem"
    expected = [f"MTLS_KEY={other}: this key does not match the certificate"]
    return {"MTLS_KEY": str(other)}, [*expected, str(pki / "orders" / "chain.pem")]


def _client_only_certificate(pki: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    chain, key = pki / "storefront" / "chain.pem", pki / "storefront" / "key.pem"
    expected = [f"MTLS_CERT={chain}", "lacks the serverAuth extended key usage"]
    return {"MTLS_CERT": str(chain), "MTLS_KEY": str(key)}, expected


def _empty_ca_bundle(pki: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    (tmp / "ca.crt").write_text("# no certificates here\n")
    return {"MTLS_CA": str(tmp / "ca.crt")}, [f"MTLS_CA={tmp / 'ca.crt'}: holds no PEM certificate"]


@pytest.mark.parametrize(
    "bad_material",
    [_unreadable_key, _garbage_key, _another_key, _client_only_certificate, _empty_ca_bundle],
    ids=lambda case: case.__name__.strip("_"),
)
def test_unusable_material_is_named_with_the_fix(
    default_pki: DevPKI, tmp_path: Path, bad_material: Any
) -> None:
    overrides, expected = bad_material(default_pki.directory, tmp_path)
    code, line, _ = _start(default_pki, **overrides)
    assert code == 2
    for part in expected:
        assert part in line


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
