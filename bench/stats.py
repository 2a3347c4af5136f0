"""Medians and spread over interleaved rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """The median of a figure over rounds, with its smallest and largest value."""

    median: float
    low: float
    high: float
    rounds: int

    def spread_pct(self) -> float:
        """(high - low) / median, in percent: how much the rounds disagreed."""
        return 100.0 * (self.high - self.low) / self.median if self.median else 0.0

    def show(self, fmt: str = "{:.0f}") -> str:
        return f"{fmt.format(self.median)} ({fmt.format(self.low)}-{fmt.format(self.high)})"


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(float("nan"), float("nan"), float("nan"), 0)
    return Summary(statistics.median(values), min(values), max(values), len(values))


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]
