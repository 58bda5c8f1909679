"""Reading a node's `GET /metrics` as Prometheus does."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the series `name` with exactly these labels in an exposition."""
    seen = []
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
            if found.name == name:
                seen.append(found.labels)
    raise AssertionError(f"no {name}{labels} in the metrics; {name} has {seen}")
