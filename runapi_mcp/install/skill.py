"""The agent skill shipped in the Claude Code and Codex plugins: how to get good, affordable GPT Image 2 results."""

from __future__ import annotations

import json

from runapi_mcp.core.pricing import LIST_PRICE_CENTS
from runapi_mcp.install.launch import KEY_VAR
from runapi_mcp.runapi.models import ASPECT_RATIOS

SKILL_NAME = "gpt-image-2"
SKILL_DESCRIPTION = (
    "Prompting and running GPT Image 2 through the runapi MCP server, for generating images from text, editing or "
    "combining existing images, picking aspect ratio and resolution, counting the cost first, and following tasks "
    "that are still running. Use when the user asks for an image, icon, illustration, banner, mockup or photo "
    "edit, or what images would cost."
)

PRICES_USD = {resolution: cents / 100 for resolution, cents in LIST_PRICE_CENTS.items()}


def skill_markdown() -> str:
    ratios = " ".join(f"`{r}`" for r in ASPECT_RATIOS)
    p1, p2, p4 = (f"${PRICES_USD[r]:.2f}" for r in ("1k", "2k", "4k"))
    return f"""---
name: {SKILL_NAME}
description: {json.dumps(SKILL_DESCRIPTION)}
---

# GPT Image 2 with the runapi server

The `runapi` MCP server gives you six tools: `generate_image`, `edit_image`, `get_task`, `list_tasks`,
`get_pricing` and `get_balance`. Every generated or edited image costs money, so plan before you call.

## 1. Decide what the image is for

Ask (or infer from the project) where the image will be used. That decides the aspect ratio, the resolution
and whether text belongs in it. A favicon, a hero banner and a printed poster need different calls.

## 2. Count the cost before you spend it

List prices per image: **1k {p1}, 2k {p2}, 4k {p4}** (generation and editing alike; failed tasks are not
billed). `count` makes one paid task per image, so `count=4` at 4k is 4 × {p4} = ${4 * PRICES_USD["4k"]:.2f}.

- Before `count` > 1, or any 4k request, tell the user the total and let them confirm.
- `get_pricing` gives the current price and an estimate for a planned job; `get_balance` shows what is left.
- Iterate at 1k. Once the user likes a prompt, run that exact prompt once at 2k or 4k.

## 3. Write the prompt

Write one clear scene in plain sentences, in this order:

1. **Subject**: concrete nouns, how many, what they look like. "A red 1970s road bicycle leaning on a
   whitewashed brick wall", not "a bike".
2. **Composition**: shot and viewpoint (close-up, wide, top-down, isometric, three-quarter view), where the
   subject sits, and where empty space must stay ("keep the left third empty for a headline").
3. **Style and medium**: photograph (lens, film stock), watercolour, flat vector, 3D render, pixel art,
   line icon. Name a period or movement rather than a living artist.
4. **Light and colour**: "soft overcast light", "warm rim light at sunset"; give brand colours as hex codes.
5. **Details and constraints**: materials, textures, mood; then what must not appear ("no watermark, no other
   text"). There is no negative-prompt field: say it in the prompt.

Tips:
- One idea per image. A long list of adjectives blurs the result; a specific scene sharpens it.
- For a set (icons, illustrations for one site), write one style sentence and repeat it word for word in
  every prompt, changing only the subject.
- For product or UI mockups, describe the device, the angle and what is on the screen.

### Text inside the image

- Put the exact words in double quotes: `a storefront sign that reads "Blue Fern Café"`.
- Say the lettering style and placement: "bold white sans-serif, centred at the top".
- Keep it short: a few words render reliably, paragraphs do not. Spell out names letter for letter if they
  are unusual, and read the result back before you use it.
- For long or changing copy (prices, dates, UI labels), generate the image without text and add the text in
  HTML, CSS or the design file instead.

## 4. Aspect ratio and resolution

`aspect_ratio` accepts {ratios}.

| use | aspect_ratio |
|---|---|
| icon, avatar, square post, product tile | `1:1` |
| hero banner, slide, video thumbnail, desktop wallpaper | `16:9` |
| ultra-wide banner, page header strip | `21:9`, `3:1`, `2:1` |
| phone wallpaper, story, reel cover | `9:16` |
| portrait photo, poster, book cover | `2:3`, `3:4`, `4:5` |
| landscape photo, blog header | `3:2`, `4:3`, `5:4` |
| let the model choose | `auto` (the default) |

`output_resolution`: `1k` for drafts, previews and placeholders (the default), `2k` for finished web and app
assets, `4k` for print and very large hero images. Not every pair is accepted (`auto` may only allow 1k, and
`1:1` may not allow 4k); if RunAPI refuses a combination, pick the nearest one that it accepts.

## 5. Generate

`generate_image(prompt, aspect_ratio, output_resolution, count)` waits for the result (up to the bound the
`wait` parameter states for this host) and saves each image into the project (default `./runapi-images/`, or
`output_dir`) with a JSON sidecar holding the prompt, settings, task id, URL and cost. The result text gives
the saved path, the URL, the pixel size and the cost.

- **Use the saved file.** RunAPI's image URLs expire after 7 days: reference the saved path in code and docs,
  and copy or move that file where the project needs it. Never hard-code the URL.
- Show the user the saved path, and the preview if you can see it.

## 6. Edit or combine images

`edit_image(prompt, images)` takes 1 to 16 sources: a path inside the project, a `file://` URI, an http(s)
URL, a `data:` URI, or an earlier result as `task:<task_id>` (its first image) or `task:<task_id>#<index>`
(counting from 0). A `task:` reference reuses the stored result: no re-upload, no expired URL.

- Say what changes and what stays: "Change the jacket to navy wool; keep the face, pose, lighting and
  background exactly as they are."
- When combining, refer to the sources by their order: "Put the bottle from the first image on the marble
  counter from the second image, matching the counter's light."
- Make one change per edit and chain edits with `task:` references; a pile of changes in one edit drifts.

## 7. When a task is still running

A result that says the task is still processing is not an error. Continue it with
`get_task(task_id, wait=true)`, as often as needed. **Do not call `generate_image` or `edit_image` again for
the same picture**: that starts a new task and pays a second time. `list_tasks` finds recent task ids (for
example after a restart or a lost conversation).

If a call failed with an error and you retry the same request, pass the same `idempotency_key` as before, so
RunAPI hands back the task it already has instead of charging again.

## 8. Sandbox results

If a result says its images are sandbox placeholders, nothing real was generated and nothing was charged.
To make real images, the user sets `{KEY_VAR}` (or saves the key in `~/.config/runapi/config.json`) and
restarts the host.
"""
