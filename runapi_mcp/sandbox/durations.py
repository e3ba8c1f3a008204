"""Task durations drawn from a spread, so benchmarks see tasks of realistic and varied length.

`uniform:8-60` draws evenly between 8 and 60 s. `lognormal:8-60` is fitted to the same range: its
median is the geometric mean (about 22 s), about 95% of draws fall inside the range, and the rest are
clipped to it, which gives the long right tail image tasks show (most finish early, a few take long).
`tiered:8-60` makes the output resolution drive the duration, as it does for a real image model: each
resolution draws from its own lognormal band of the range (1k, or none given, the lowest; 4k the highest;
the bands overlap), so the whole spread is still 8-60 s but one kind of task spans only part of it.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Literal

SpreadKind = Literal["uniform", "lognormal", "tiered"]

# Each resolution's band, as fractions of the range in log seconds (1k takes the low 45%, 4k the top 45%).
TIERS: dict[str, tuple[float, float]] = {"1k": (0.0, 0.45), "2k": (0.3, 0.75), "4k": (0.55, 1.0)}

_SPEC = re.compile(r"^(uniform|lognormal|tiered):(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class DurationSpread:
    kind: SpreadKind
    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high < float("inf"):
            raise ValueError("a duration spread needs 0 < low <= high")

    def draw(self, rng: random.Random, resolution: str | None = None) -> float:
        """A task's duration; `resolution` (1k, 2k, 4k or None) matters only to a tiered spread."""
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        low, high = self.low, self.high
        if self.kind == "tiered":
            start, end = TIERS.get(resolution or "1k", TIERS["1k"])
            ratio = self.high / self.low
            low, high = self.low * ratio**start, self.low * ratio**end
        mu = math.log(math.sqrt(low * high))
        sigma = math.log(high / low) / 4 or 1e-9
        return min(high, max(low, rng.lognormvariate(mu, sigma)))

    def __str__(self) -> str:
        return f"{self.kind}:{self.low:g}-{self.high:g}"


def parse_spread(text: str) -> DurationSpread:
    """`uniform:8-60`, `lognormal:8-60` or `tiered:8-60`; ValueError with the expected form otherwise."""
    match = _SPEC.match(text.strip().lower())
    if match is None:
        raise ValueError(
            f"durations take the form uniform:LOW-HIGH, lognormal:LOW-HIGH or tiered:LOW-HIGH (seconds); got {text!r}"
        )
    kind: SpreadKind = (
        "uniform" if match.group(1) == "uniform" else "tiered" if match.group(1) == "tiered" else "lognormal"
    )
    low, high = float(match.group(2)), float(match.group(3))
    if not 0 < low <= high:
        raise ValueError(f"durations need 0 < LOW <= HIGH seconds; got {text!r}")
    return DurationSpread(kind, low, high)
