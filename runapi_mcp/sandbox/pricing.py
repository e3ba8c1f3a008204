"""Price schedules and quotes, answered from RunAPI's published GPT Image 2 list prices."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from runapi_mcp.runapi.models import ACTIONS, MODEL_ID, OUTPUT_RESOLUTIONS, SERVICE
from runapi_mcp.sandbox.errors import ApiError, validation_error
from runapi_mcp.sandbox.validation import json_object

# Published list prices per image, the same for both actions.
PRICE_CENTS: dict[str, int] = {"1k": 6, "2k": 10, "4k": 16}
DEFAULT_RESOLUTION = "1k"
# Fixed, so the schedule body (and its ETag) stays the same across sandbox runs.
PRICES_AS_OF = "2026-01-01T00:00:00Z"


def price_cents(output_resolution: str | None) -> int:
    return PRICE_CENTS[output_resolution or DEFAULT_RESOLUTION]


def _normalise_service(service: str) -> str:
    return service.strip().lower().replace("-", "_")


def _schedule(action: str) -> dict[str, Any]:
    return {
        "service": SERVICE,
        "action": action,
        "model": MODEL_ID,
        "pricing_status": "active",
        "catalog_status": "available",
        "currency": "USD",
        "billing_unit": "image",
        "billing_strategy": "per_image_by_output_resolution",
        "unit_price_cents": PRICE_CENTS[DEFAULT_RESOLUTION],
        "billing_config": {
            "default_output_resolution": DEFAULT_RESOLUTION,
            "output_resolution_prices_cents": dict(PRICE_CENTS),
        },
    }


def price_schedules(service: str | None, action: str | None, model: str | None) -> dict[str, Any]:
    """Filters narrow the list; a filter that matches nothing gives an empty list, not an error."""
    schedules = [
        schedule
        for schedule in (_schedule(name) for name in ACTIONS)
        if (not service or _normalise_service(service) == schedule["service"])
        and (not action or action == schedule["action"])
        and (not model or model == schedule["model"])
    ]
    return {"as_of": PRICES_AS_OF, "price_schedules": schedules}


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, current: str) -> bool:
    if not if_none_match:
        return False
    candidates = [part.strip() for part in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == current for tag in candidates)


def price_quote(payload: object) -> dict[str, Any]:
    body = json_object(payload)
    service, action, model = body.get("service"), body.get("action"), body.get("model")
    raw_params = body.get("params")
    if not isinstance(service, str) or not service:
        raise validation_error("service is required.")
    if not isinstance(action, str) or not action:
        raise validation_error("action is required.")
    if model is not None and not isinstance(model, str):
        raise validation_error("model must be a string.")
    params = json_object(raw_params, "params") if raw_params is not None else {}
    if _normalise_service(service) != SERVICE:
        raise ApiError(404, "not_found", f"No price schedule for service {service!r}.")
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"No price schedule for action {action!r} of {SERVICE}.")
    if model not in (None, MODEL_ID):
        raise ApiError(404, "not_found", f"No price schedule for model {model!r}.")
    resolution = params.get("output_resolution")
    if resolution is not None and (not isinstance(resolution, str) or resolution not in OUTPUT_RESOLUTIONS):
        raise validation_error(f"params.output_resolution must be one of: {', '.join(OUTPUT_RESOLUTIONS)}.")
    return {
        "price_quote": {
            "service": SERVICE,
            "action": action,
            "model": MODEL_ID,
            "pricing_status": "active",
            "currency": "USD",
            "reservation_amount_cents": price_cents(resolution),
            "estimate_basis": "list_price_per_image",
            "as_of": PRICES_AS_OF,
        }
    }


def schedules_body(service: str | None, action: str | None, model: str | None) -> bytes:
    return json.dumps(price_schedules(service, action, model), separators=(",", ":")).encode()
