"""Per-image prices for GPT Image 2 and what a planned job will cost, with where the figure came from."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runapi_mcp.core.types import Cost
from runapi_mcp.runapi.client import RunAPIClient
from runapi_mcp.runapi.errors import RunAPIError
from runapi_mcp.runapi.models import OUTPUT_RESOLUTIONS, Action, PriceSchedules, TaskStatus

log = logging.getLogger(__name__)

# RunAPI's published list prices (both actions, per image). Only an offline fallback, labelled as such.
LIST_PRICE_CENTS: dict[str, float] = {"1k": 6.0, "2k": 10.0, "4k": 16.0}
# RunAPI bills an unset resolution as 1k (the only size `auto` may allow).
DEFAULT_RESOLUTION = "1k"


@dataclass(frozen=True)
class PriceTable:
    per_image_cents: dict[str, float]
    currency: str
    # "live price schedule (as of ...)" or "offline list price (RunAPI unreachable: ...)"
    source: str
    live: bool

    def cents_for(self, resolution: str | None) -> float:
        return self.per_image_cents.get(resolution or DEFAULT_RESOLUTION, LIST_PRICE_CENTS[DEFAULT_RESOLUTION])


def offline_table(reason: str) -> PriceTable:
    return PriceTable(dict(LIST_PRICE_CENTS), "USD", f"offline list price ({reason})", live=False)


async def task_cost(client: RunAPIClient, action: Action, status: TaskStatus, resolution: str | None) -> Cost:
    """What a completed task cost: RunAPI's own figure when the status carries one, else the price list's."""
    charged = _charged_usd(status)
    if charged is not None:
        return Cost(charged, "charged", "as reported by RunAPI")
    table = await price_table(client, action)
    count = len(status.images) or 1
    usd = table.cents_for(resolution) * count / 100
    return Cost(usd, "estimated", f"{count} x {resolution or '1k'} image at {table.source}")


def _charged_usd(status: TaskStatus) -> float | None:
    billing = status.billing or {}
    settlement = billing.get("settlement")
    if isinstance(settlement, dict):
        cents = settlement.get("charged_amount_cents")  # type: ignore[union-attr]
        if isinstance(cents, int | float):
            return float(cents) / 100
    if status.usage is not None and status.usage.cost is not None:
        return float(status.usage.cost)
    return None


async def price_table(client: RunAPIClient, action: Action) -> PriceTable:
    """Live prices from RunAPI's price schedules, falling back to the published list prices."""
    try:
        schedules = await client.price_schedules(action=action)
    except RunAPIError as exc:
        log.info("price schedules unavailable: %s", exc.message)
        return offline_table(f"price schedules unavailable: {exc.message}")
    table = _from_schedules(schedules, action)
    if table is None:
        return offline_table("RunAPI's price schedule has no per-resolution figure for gpt-image-2")
    return table


def _from_schedules(schedules: PriceSchedules, action: Action) -> PriceTable | None:
    for schedule in schedules.price_schedules:
        if schedule.action != action:
            continue
        prices = _resolution_prices(schedule.billing_config or {})
        if not prices and schedule.unit_price_cents is not None:
            prices = dict.fromkeys(OUTPUT_RESOLUTIONS, float(schedule.unit_price_cents))
        if prices:
            merged = {**LIST_PRICE_CENTS, **prices}
            as_of = f" as of {schedules.as_of}" if schedules.as_of else ""
            kind = "cached price schedule" if schedules.from_cache else "live price schedule"
            return PriceTable(merged, schedule.currency, f"{kind}{as_of}", live=True)
    return None


def _resolution_prices(config: Mapping[str, Any]) -> dict[str, float]:
    """Find a `{"1k": n, "2k": n, "4k": n}`-shaped mapping anywhere in a schedule's billing_config.

    The config's exact layout is not published, so we look for the resolution keys rather than a path.
    """
    found: dict[str, float] = {}
    for key, value in config.items():
        if key in LIST_PRICE_CENTS and isinstance(value, int | float):
            found[key] = float(value)
        elif key in LIST_PRICE_CENTS and isinstance(value, Mapping):
            cents = value.get("unit_price_cents")  # type: ignore[union-attr]
            if isinstance(cents, int | float):
                found[key] = float(cents)
        elif isinstance(value, Mapping) and not found:
            found = _resolution_prices(value)  # type: ignore[arg-type]
    return found
