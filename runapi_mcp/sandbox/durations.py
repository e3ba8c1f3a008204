"""Task durations drawn from a spread, so benchmarks see tasks of realistic and varied length.

`uniform:8-60` draws evenly between 8 and 60 s. `lognormal:8-60` is fitted to the same range: its
median is the geometric mean (about 22 s), about 95% of draws fall inside the range, and the rest are
clipped to it, which gives the long right tail image tasks show (most finish early, a few take long).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Literal

SpreadKind = Literal["uniform", "lognormal"]

_SPEC = re.compile(r"^(uniform|lognormal):(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class DurationSpread:
    kind: SpreadKind
    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high < float("inf"):
            raise ValueError("a duration spread needs 0 < low <= high")

    def draw(self, rng: random.Random) -> float:
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        mu = math.log(math.sqrt(self.low * self.high))
        sigma = math.log(self.high / self.low) / 4 or 1e-9
        return min(self.high, max(self.low, rng.lognormvariate(mu, sigma)))

    def __str__(self) -> str:
        return f"{self.kind}:{self.low:g}-{self.high:g}"


def parse_spread(text: str) -> DurationSpread:
    """`uniform:8-60` or `lognormal:8-60`; ValueError with the expected form otherwise."""
    match = _SPEC.match(text.strip().lower())
    if match is None:
        raise ValueError(f"durations take the form uniform:LOW-HIGH or lognormal:LOW-HIGH (seconds); got {text!r}")
    kind = "uniform" if match.group(1) == "uniform" else "lognormal"
    low, high = float(match.group(2)), float(match.group(3))
    if not 0 < low <= high:
        raise ValueError(f"durations need 0 < LOW <= HIGH seconds; got {text!r}")
    return DurationSpread(kind, low, high)
