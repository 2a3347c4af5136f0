"""One reader of a server's /metrics: prometheus_client's own parser, never a regex."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.clients import https

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Prometheus text -> {(sample name, labels): value}."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the one series `name` whose labels include `labels`; None if absent."""
    for (sample_name, sample_labels), value in samples(text).items():
        if sample_name == name and set(labels.items()) <= sample_labels:
            return float(value)
    return None


def metric(url: str, pki_dir: Path, name: str, **labels: str) -> float | None:
    """One sample of GET url/metrics, read as ops (who may read it)."""
    with https(pki_dir, "ops") as client:
        answer = client.get(f"{url}/metrics")
    answer.raise_for_status()
    return sample(answer.text, name, **labels)
