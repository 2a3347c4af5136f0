"""The Swarm stack file that `tools.stack` makes from docker-compose.yml (no Docker needed).

`make swarm-e2e` deploys it for real; these pin what it must say: keys only in
secrets readable by the service's user, certificates and CRLs in configs at
the paths compose mounts, names that change with the content (so that a
renewal rolls the services that use it, and only those), and what Swarm adds
(replicas, dnsrr, start-first updates with rollback, grace periods).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from devpki import DevPKI

from tools.stack import SERVICES, stack

UID = "10001"


@pytest.fixture
def pki(tmp_path: Path) -> DevPKI:
    pki = DevPKI(tmp_path / "pki")
    pki.make_default()
    return pki


def mounts(service: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {mount["target"]: mount for mount in service.get(kind, [])}


def test_each_key_is_a_secret_only_its_service_user_reads(pki: DevPKI) -> None:
    made = stack(pki.directory, UID)
    for name in SERVICES:
        service = made["services"][name]
        (key,) = mounts(service, "secrets").values()
        assert key["target"] == "/run/mtls/own/key.pem"
        assert (key["uid"], key["gid"], key["mode"]) == (UID, UID, 0o400)
        assert made["secrets"][key["source"]]["file"] == str(pki.directory / name / "key.pem")
        configs = mounts(service, "configs")
        assert set(configs) == {
            "/run/mtls/own/chain.pem",
            "/run/mtls/trust/ca.crt",
            "/run/mtls/trust/crl.pem",
            "/run/mtls/trust/chain-crl.pem",
        }
        assert all(config["mode"] == 0o444 for config in configs.values())
    files = [Path(entry["file"]).name for entry in made["configs"].values()]
    assert "key.pem" not in files, "a private key in a config (readable by every task)"


def test_a_renewal_renames_only_what_changed(pki: DevPKI) -> None:
    before = stack(pki.directory, UID)
    pki.renew("orders")
    after = stack(pki.directory, UID)

    def sources(made: dict[str, Any], name: str) -> set[str]:
        service = made["services"][name]
        return {m["source"] for m in [*service["secrets"], *service["configs"]]}

    changed = sources(after, "orders") - sources(before, "orders")
    assert {source.split("-")[1] for source in changed} == {"key", "chain"}
    assert sources(after, "payments") == sources(before, "payments")


def test_swarm_additions_and_nothing_swarm_refuses(pki: DevPKI) -> None:
    made = stack(pki.directory, UID)
    for name in ("orders", "payments"):
        service = made["services"][name]
        deploy = service["deploy"]
        assert deploy["replicas"] == "${MTLS_SWARM_REPLICAS:-3}"
        assert deploy["endpoint_mode"] == "${MTLS_SWARM_ENDPOINT_MODE:-dnsrr}"
        assert deploy["update_config"]["order"] == "start-first"
        assert deploy["update_config"]["failure_action"] == "rollback"
        assert service["stop_grace_period"] == "20s"  # uvicorn's graceful shutdown is 12 s
        assert service["healthcheck"]["test"][:4] == ["CMD", "python", "-m", "mtls"]
    postgres = made["services"]["postgres"]
    assert postgres["deploy"]["update_config"]["order"] == "stop-first"  # one data volume
    for service in made["services"].values():
        assert not {"depends_on", "build", "ports"} & set(service)
    assert made["networks"]["default"]["driver"] == "overlay"
