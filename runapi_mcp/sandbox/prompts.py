"""The sandbox's prompt library: `GET /api/v1/prompts` over a small set of GPT Image 2 prompts written for
this project, with RunAPI's filters (modality, category, tags, q, model, featured) and pagination."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runapi_mcp.sandbox.errors import ApiError

_T2I = {"model": "gpt-image-2", "service": "gpt_image_2", "action": "text_to_image", "modality": "image"}
_EDIT = {"model": "gpt-image-2", "service": "gpt_image_2", "action": "edit_image", "modality": "image_edit"}


def _entry(
    number: int, kind: dict[str, str], category: str, title: str, tags: str, text: str, featured: bool
) -> dict[str, Any]:
    return {
        "id": f"sbx-prompt-{number:03d}",
        "title": title,
        "prompt": " ".join(text.split()),
        **kind,
        "category": category,
        "tags": tags.split(),
        "featured": featured,
    }


LIBRARY: tuple[dict[str, Any], ...] = (
    _entry(
        1,
        _T2I,
        "product",
        "Ceramic mug on linen",
        "product studio minimal",
        """
        Studio product photo of a matte sage-green ceramic mug on a folded natural linen cloth, soft window
        light from the left, shallow depth of field, warm neutral background, subtle steam, 50 mm lens.""",
        True,
    ),
    _entry(
        2,
        _T2I,
        "product",
        "Sneaker levitating over water",
        "product dynamic splash",
        """
        A white running sneaker floating above a still turquoise pool, a ring of water droplets frozen
        mid-air around it, high-speed flash, crisp reflections, clean commercial look.""",
        False,
    ),
    _entry(
        3,
        _T2I,
        "portrait",
        "Window-light portrait",
        "portrait photo natural-light",
        """
        Close portrait of an elderly fisherman with a weathered face and a knitted cap, soft overcast light
        through a cabin window, muted blues and greys, fine skin texture, eyes in sharp focus.""",
        True,
    ),
    _entry(
        4,
        _T2I,
        "illustration",
        "Cozy isometric bookshop",
        "illustration isometric cozy",
        """
        Isometric illustration of a tiny two-storey bookshop at dusk, warm lamps in the windows, a cat on the
        stairs, stacked books and plants, soft pastel palette, clean outlines, no text.""",
        True,
    ),
    _entry(
        5,
        _T2I,
        "illustration",
        "Children's book fox",
        "illustration watercolor children",
        """
        Watercolor children's-book illustration of a small red fox carrying a lantern through a snowy birch
        forest at night, gentle glow, loose brush strokes, paper texture.""",
        False,
    ),
    _entry(
        6,
        _T2I,
        "typography",
        "Poster with a clear headline",
        "typography poster text",
        """
        Minimal Swiss-style concert poster, the headline "NIGHT TRAIN" in bold condensed sans-serif across the
        top, a single diagonal orange stripe, off-white paper, small date line "12 MARCH" at the bottom.""",
        True,
    ),
    _entry(
        7,
        _T2I,
        "typography",
        "Hand-lettered café sign",
        "typography lettering signage",
        """
        A chalkboard café sign that reads "Fresh Bread Daily" in neat hand lettering with small wheat
        doodles, slightly worn chalk texture, photographed straight on.""",
        False,
    ),
    _entry(
        8,
        _T2I,
        "architecture",
        "Brutalist library interior",
        "architecture interior concrete",
        """
        Wide-angle interior of a brutalist concrete library, tall skylights casting long beams of light,
        wooden reading tables, a few people reading, calm and quiet atmosphere, architectural photography.""",
        False,
    ),
    _entry(
        9,
        _T2I,
        "food",
        "Overhead breakfast spread",
        "food overhead photo",
        """
        Overhead food photo of a breakfast table: sourdough toast with avocado, a bowl of berries and yogurt,
        black coffee, linen napkin, morning light, natural colours, editorial style.""",
        True,
    ),
    _entry(
        10,
        _T2I,
        "ui",
        "App icon, paper plane",
        "ui icon app",
        """
        A glossy rounded-square app icon of a folded paper plane on a gradient from deep blue to violet,
        soft inner shadow, centered, flat background, 1024 px icon style.""",
        False,
    ),
    _entry(
        11,
        _T2I,
        "landscape",
        "Fjord at blue hour",
        "landscape photo nature",
        """
        A quiet Norwegian fjord at blue hour, mirror-still water, a small red cabin with one lit window,
        snow on the peaks, long exposure, deep blues with a warm accent.""",
        True,
    ),
    _entry(
        12,
        _T2I,
        "concept",
        "Solar-punk city street",
        "concept city futuristic",
        """
        A solar-punk city street at midday: terraced buildings covered in gardens, trams, bicycles, solar
        sails, people at market stalls, bright optimistic colours, detailed digital painting.""",
        False,
    ),
    _entry(
        13,
        _EDIT,
        "photo-edit",
        "Swap the background to a studio",
        "edit background product",
        """
        Keep the product exactly as it is and replace the background with a seamless light-grey studio
        sweep with a soft contact shadow under the object.""",
        True,
    ),
    _entry(
        14,
        _EDIT,
        "photo-edit",
        "Golden-hour relight",
        "edit lighting photo",
        """
        Relight this photo as if at golden hour: warm low sunlight from the right, longer soft shadows,
        keep every person, object and composition unchanged.""",
        False,
    ),
    _entry(
        15,
        _EDIT,
        "style",
        "Turn it into a watercolor",
        "edit style watercolor",
        """
        Redraw this image as a loose watercolor painting on textured paper, keep the composition and the
        main shapes, soften the details, let some paper show through.""",
        False,
    ),
    _entry(
        16,
        _EDIT,
        "composite",
        "Put the logo on a tote bag",
        "edit mockup composite",
        """
        Place the logo from the first image, centred and printed, on the canvas tote bag from the second
        image, following the fabric's folds and lighting; keep the bag otherwise unchanged.""",
        True,
    ),
)

MAX_PER_PAGE = 100


def search(query: dict[str, str]) -> dict[str, Any]:
    """The contract's answer for these query parameters; ApiError(422) for a malformed one."""
    page = _integer(query, "page", 1, 1, 10**6)
    per_page = _integer(query, "per_page", 20, 1, MAX_PER_PAGE)
    featured = _flag(query.get("featured"))
    tags = {t.strip().lower() for t in query.get("tags", "").split(",") if t.strip()}
    words = query.get("q", "").lower().split()
    exact = {name: query[name].strip().lower() for name in ("modality", "category", "model") if query.get(name)}

    def wanted(entry: dict[str, Any]) -> bool:
        if any(str(entry[name]).lower() != value for name, value in exact.items()):
            return False
        if featured is not None and entry["featured"] != featured:
            return False
        if not tags <= {t.lower() for t in entry["tags"]}:
            return False
        haystack = " ".join([entry["title"], entry["prompt"], entry["category"], *entry["tags"]]).lower()
        return all(word in haystack for word in words)

    found = [entry for entry in LIBRARY if wanted(entry)]
    start = (page - 1) * per_page
    return {
        "prompts": found[start : start + per_page],
        "pagination": {
            "page": page,
            "per_page": per_page,
            "total": len(found),
            "pages": math.ceil(len(found) / per_page),
        },
    }


def _integer(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(422, "validation_failed", f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def _flag(raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(422, "validation_failed", "featured must be true or false.")


async def _prompts(request: Request) -> Response:
    return JSONResponse(search(dict(request.query_params)))


def prompt_routes() -> list[Route]:
    return [Route("/api/v1/prompts", _prompts, methods=["GET"])]
