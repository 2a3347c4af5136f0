"""The certificate doctor names the cause of every `make scenarios` failure, and the fix."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from devpki import DevPKI
from mtls.doctor import Options, Report, diagnose
from mtls.doctor.report import render
from service_pair import ServicePair
from teach_support import running_lab

from harness.ports import free_port
from harness.processes import run_module
from tools.lab import Lab
from tools.scenarios import SCENARIOS, Scenario, doctor_options


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServicePair, Lab]]:
    with running_lab(tmp_path_factory.mktemp("doctor")) as pair_and_lab:
        yield pair_and_lab


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.expected_cause for s in SCENARIOS])
def test_doctor_names_the_cause_of_each_scenario(
    lab: tuple[ServicePair, Lab], scenario: Scenario
) -> None:
    _, the_lab = lab
    report = diagnose(doctor_options(the_lab, scenario.prepare(the_lab)))
    assert report.verdict.cause == scenario.expected_cause, render(report)
    assert report.verdict.ok == (not scenario.refused)
    if scenario.refused:
        assert report.verdict.fix, "a failure comes with what to change"


def test_doctor_cli_prints_steps_and_verdict_and_fails_for_an_expired_certificate(
    lab: tuple[ServicePair, Lab],
) -> None:
    pair, the_lab = lab
    leaf = the_lab.same_ca.issue("cli-expired", client_only=True, expired=True)
    args = [pair.orders_url, "--cert", str(leaf.chain_path), "--key", str(leaf.key_path)]
    result = run_module("mtls", {}, "doctor", *args, "--ca", str(pair.pki_dir / "ca.crt"))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "FAIL  validity             EXPIRED on" in out
    assert "OK    TLS handshake        TLSv1.3" in out
    assert "Verdict: expired" in out
    assert "make renew NAME=" in out
    assert "\033[" not in out, "no colours when stdout is not a terminal"


def test_doctor_says_ok_and_exits_zero_when_the_call_works(lab: tuple[ServicePair, Lab]) -> None:
    pair, _ = lab
    who = pair.pki_dir / "storefront"
    args = ["--cert", str(who / "chain.pem"), "--key", str(who / "key.pem")]
    result = run_module(
        "mtls",
        {},
        "doctor",
        pair.orders_url + "/orders",
        *args,
        "--ca",
        str(pair.pki_dir / "ca.crt"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verdict: ok" in result.stdout
    assert "HTTP 200" in result.stdout


def test_doctor_reports_nothing_listening_as_unreachable(default_pki: DevPKI) -> None:
    url = f"https://localhost:{free_port()}"
    report = diagnose(Options(url=url, ca=default_pki.ca_cert_path))
    assert report.verdict.cause == "unreachable"
    assert "make run" in report.verdict.fix


def _diagnose(pair: ServicePair, cert: Path, key: Path, ca: Path | None = None) -> Report:
    """The doctor's report on a call to orders with this certificate and key."""
    options = Options(url=pair.orders_url, cert=cert, key=key, ca=ca or pair.pki_dir / "ca.crt")
    return diagnose(options)


def test_doctor_finds_a_key_that_does_not_match_before_connecting(
    lab: tuple[ServicePair, Lab], tmp_path: Path
) -> None:
    pair, _ = lab
    report = _diagnose(
        pair, pair.pki_dir / "storefront" / "chain.pem", pair.pki_dir / "ops" / "key.pem"
    )
    assert report.verdict.cause == "local_files"
    assert report.failed("key") is not None
    assert "issued together" in report.verdict.fix


def test_doctor_flags_a_chain_file_in_the_wrong_order(
    lab: tuple[ServicePair, Lab], tmp_path: Path
) -> None:
    pair, _ = lab
    leaf, intermediate = (pair.pki_dir / "storefront" / f for f in ("cert.pem", "chain.pem"))
    reversed_chain = tmp_path / "reversed.pem"
    ca_part = intermediate.read_text().replace(leaf.read_text(), "")
    reversed_chain.write_text(ca_part + leaf.read_text())
    shutil.copy(pair.pki_dir / "storefront" / "key.pem", tmp_path / "key.pem")
    report = _diagnose(pair, reversed_chain, tmp_path / "key.pem")
    assert report.verdict.cause == "local_files"
    check = report.failed("key")
    assert check is not None
    assert "out of order" in check.detail
    assert "leaf first" in report.verdict.fix


def test_doctor_explains_a_leaf_sent_without_its_intermediate_and_the_server_completes_it(
    lab: tuple[ServicePair, Lab],
) -> None:
    pair, _ = lab
    storefront = pair.pki_dir / "storefront"
    report = _diagnose(pair, storefront / "cert.pem", storefront / "key.pem")
    signed_by = next(check for check in report.local if check.label == "signed by")
    assert signed_by.status == "warn"
    assert "Intermediate" in signed_by.detail
    assert "chain.pem" in signed_by.fix
    assert report.verdict.ok, "the server completes a leaf-only chain from its own bundle"


def test_doctor_warns_about_a_certificate_without_client_auth(
    lab: tuple[ServicePair, Lab],
) -> None:
    pair, the_lab = lab
    leaf = the_lab.same_ca.issue(
        "server-only",
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        spiffe_id="spiffe://demo.internal/storefront",
    )
    report = _diagnose(pair, leaf.chain_path, leaf.key_path)
    assert report.failed("EKU") is not None
    assert report.verdict.cause == "wrong_purpose", render(report)


def test_doctor_blames_the_server_certificate_when_our_ca_did_not_sign_it(
    lab: tuple[ServicePair, Lab],
) -> None:
    pair, the_lab = lab
    leaf = the_lab.other_ca.issue("storefront-elsewhere", client_only=True)
    report = _diagnose(pair, leaf.chain_path, leaf.key_path, the_lab.other_ca.ca_cert_path)
    assert report.verdict.cause == "server_unknown_ca", render(report)
    assert "issued by CN=demo.internal Dev Intermediate CA" in report.verdict.summary
    assert "another PKI" in report.verdict.fix
