"""The Kubernetes manifests (deploy/kubernetes/), validated offline: no cluster runs here.

Core kinds go through `kubernetes-validate` (the published OpenAPI schemas of
Kubernetes, strict: an unknown field fails); cert-manager's and trust-manager's
kinds through the openAPIV3Schema of their own CRDs (deploy/kubernetes/schemas/),
with unknown fields refused too. Then what the issue asks of them: three
non-root replicas with a read-only root and the toolkit's health check, the
certificates' profile, and network policies that allow exactly the flows of the
policy table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MANIFESTS = DEPLOY / "kubernetes"
SCHEMAS = MANIFESTS / "schemas"
KUBERNETES_VERSION = "1.31"
CRD_FILES = {
    ("cert-manager.io/v1", "Certificate"): "cert-manager.io_certificates.yaml",
    ("cert-manager.io/v1", "Issuer"): "cert-manager.io_issuers.yaml",
    ("cert-manager.io/v1", "ClusterIssuer"): "cert-manager.io_issuers.yaml",  # one type
    ("trust.cert-manager.io/v1alpha1", "Bundle"): "trust.cert-manager.io_bundles.yaml",
}
# Who may open a connection to whom (README, "Identities and policy"; the database hop).
FLOWS = {
    ("storefront", "orders", 8443),
    ("payments", "orders", 8443),
    ("ops", "orders", 8443),
    ("orders", "payments", 8443),
    ("ops", "payments", 8443),
    ("orders", "postgres", 5432),
    ("payments", "postgres", 5432),
}


def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield f"{path.name}:{document['kind']}/{document['metadata']['name']}", document


ALL = dict(documents())


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for document in ALL.values() if document["kind"] == kind]


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((SCHEMAS / CRD_FILES[api_version, kind]).read_text())
    version = api_version.split("/")[1]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
    return schema


def unknown_fields(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Fields the schema does not name (OpenAPI schemas allow them unless told otherwise)."""
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += unknown_fields(item, schema["properties"][key], f"{where}.{key}")
        return found
    if isinstance(value, list) and "items" in schema:
        return [
            f
            for i, item in enumerate(value)
            for f in unknown_fields(item, schema["items"], f"{where}[{i}]")
        ]
    return []


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_manifest_is_valid_against_its_published_schema(name: str) -> None:
    document = ALL[name]
    key = (document["apiVersion"], document["kind"])
    if key in CRD_FILES:
        schema = crd_schema(*key)
        jsonschema.validate(document, schema)
        assert unknown_fields(document, schema) == []
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_typo_in_a_manifest_is_caught() -> None:
    certificate = dict(of_kind("Certificate")[0])
    certificate["spec"] = {**certificate["spec"], "renewBefor": "8h"}
    assert unknown_fields(certificate, crd_schema("cert-manager.io/v1", "Certificate"))
    deployment = dict(of_kind("Deployment")[0])
    deployment["spec"] = {**deployment["spec"], "replica": 3}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_each_service_runs_three_non_root_replicas_checked_by_the_toolkit(service: str) -> None:
    (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == service]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 3
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    health = ["python", "-m", "mtls", "healthcheck", "https://localhost:8443/health"]
    assert container["readinessProbe"]["exec"]["command"] == health
    assert container["livenessProbe"]["exec"]["command"] == health
    (budget,) = [p for p in of_kind("PodDisruptionBudget") if p["metadata"]["name"] == service]
    assert budget["spec"]["minAvailable"] == 2


@pytest.mark.parametrize("certificate", of_kind("Certificate"), ids=lambda c: c["metadata"]["name"])
def test_certificates_have_the_svid_profile_and_a_short_life(certificate: dict[str, Any]) -> None:
    spec, name = certificate["spec"], certificate["metadata"]["name"]
    if spec.get("isCA"):
        assert spec["issuerRef"]["name"] == "mtls-selfsigned"
        return
    assert spec["uris"] == [f"spiffe://demo.internal/{name}"]
    assert spec["commonName"] == name  # PostgreSQL's role
    assert spec["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}
    assert (spec["duration"], spec["renewBefore"]) == ("24h", "8h")
    assert spec["issuerRef"] == {
        "kind": "ClusterIssuer",
        "name": "mtls-ca",
        "group": "cert-manager.io",
    }
    assert "client auth" in spec["usages"] or "server auth" in spec["usages"]


def test_network_policies_allow_exactly_the_flows_of_the_policy_table() -> None:
    allowed_in, allowed_out = set(), set()
    for policy in of_kind("NetworkPolicy"):
        target = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                for port in rule["ports"]:
                    allowed_in.add(
                        (
                            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
                            target,
                            port["port"],
                        )
                    )
        for rule in policy["spec"].get("egress", []):
            for peer in rule["to"]:
                name = (
                    peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                )
                if name is None:
                    continue  # DNS
                for port in rule["ports"]:
                    allowed_out.add((target, name, port["port"]))
    assert allowed_in == FLOWS
    # A flow out of a pod we run is allowed out as well as in (storefront and ops run elsewhere).
    assert allowed_out == {flow for flow in FLOWS if flow[0] in {"orders", "payments"}}
    (deny,) = [p for p in of_kind("NetworkPolicy") if p["metadata"]["name"] == "default-deny"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_the_kustomization_names_every_manifest_and_postgres_configuration() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        f"kubernetes/{path.name}" for path in MANIFESTS.glob("*.yaml")
    )
    (generated,) = kustomization["configMapGenerator"]
    assert sorted(generated["files"]) == sorted(
        f"postgres/{path.name}" for path in (DEPLOY / "postgres").iterdir() if path.is_file()
    )
