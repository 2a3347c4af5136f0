"""Prometheus watching the certificates: the committed config and rules, checked and run.

promtool checks `monitoring/prometheus.yml` and `monitoring/alerts.yml` and runs
the rules' unit tests (`alerts_test.yml`); then a real Prometheus, with that
same config made local, scrapes orders, payments and the renewer over mTLS
as ops, and the expiry alert fires for a one-day certificate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from certsupport import reissue
from devpki import DevPKI
from devpki.leaf_files import write_leaf
from service_pair import ServicePair

from harness.ports import free_port
from harness.processes import REPO, ServerProcess
from harness.prometheus import MONITORING, Prometheus, local_config, promtool

OPERATIONS = REPO / "docs" / "operations.md"


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _passes(result: Any) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_accepts_the_committed_config_and_rules() -> None:
    _passes(promtool("check", "config", "--syntax-only", "prometheus.yml"))
    _passes(promtool("check", "rules", "alerts.yml"))


def test_promtool_accepts_the_config_with_real_certificate_files(
    default_pki: DevPKI, tmp_path: Path
) -> None:
    """Without --syntax-only promtool also opens every TLS file the config names."""
    targets = {"orders": "localhost:1", "payments": "localhost:2", "renewer": "localhost:3"}
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(local_config(default_pki.directory, targets)))
    _passes(promtool("check", "config", str(config)))


def test_every_alert_rule_passes_its_unit_tests() -> None:
    _passes(promtool("test", "rules", "alerts_test.yml"))


def test_every_alert_has_a_unit_test_and_a_runbook() -> None:
    tested = (MONITORING / "alerts_test.yml").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), re.MULTILINE)
    }
    for rule in _rules():
        name = rule["alert"]
        assert f"alertname: {name}\n" in tested, f"{name} has no unit test in alerts_test.yml"
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md", name
        assert anchor in anchors, f"{name}: no runbook heading #{anchor} in docs/operations.md"
        assert rule["labels"]["severity"] in ("warning", "critical"), name


def test_prometheus_scrapes_every_service_over_mtls_and_the_expiry_alert_fires(
    new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    pki = new_pki()
    write_leaf(pki.layout, reissue(pki, "orders", lifetime=timedelta(days=1)))  # short-lived
    renewer_port = free_port()
    renewer_args = ["--dir", str(pki.directory), "renewer", "--listen", str(renewer_port)]
    renewer = ServerProcess("devpki", {}, renewer_port, renewer_args).wait_listening()
    try:
        with ServicePair.start(pki.directory, tmp_path) as pair:
            targets = {
                "orders": pair.orders_url.removeprefix("https://"),
                "payments": pair.payments_url.removeprefix("https://"),
                "renewer": f"localhost:{renewer_port}",
            }
            config = local_config(pki.directory, targets)
            with Prometheus(config, tmp_path / "prometheus") as prometheus:

                def all_up() -> dict[str, Any] | None:
                    found = prometheus.targets()
                    healthy = {job: t["health"] for job, t in found.items()}
                    return found if healthy == dict.fromkeys(targets, "up") else None

                up = prometheus.wait_for("three targets up", all_up)
                expiring = prometheus.wait_for(
                    "CertificateExpiresSoon for orders",
                    lambda: [
                        alert
                        for alert in prometheus.firing()
                        if alert["labels"]["alertname"] == "CertificateExpiresSoon"
                    ],
                )
            assert pair.orders is not None
            scrapes = [
                line
                for line in pair.orders.events("request")
                if line["path"] == "/metrics" and line["status"] == 200
            ]
    finally:
        renewer.stop()
    assert {t["scrapeUrl"].split(":")[0] for t in up.values()} == {"https"}
    assert scrapes, "orders logged no scrape"
    assert {line["principal"] for line in scrapes} == {"ops"}  # Prometheus's certificate
    assert {alert["labels"]["job"] for alert in expiring} == {"orders"}
    assert {alert["labels"]["subject"] for alert in expiring} == {
        pki.leaf("orders").certificate.subject.rfc4514_string()
    }
