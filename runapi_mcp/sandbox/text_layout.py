"""Fitting text into a width: clipping with an ellipsis, and word wrap that also breaks CJK text.

CJK text has no spaces between words, so it may break between any two of its characters.
"""

from __future__ import annotations

from runapi_mcp.sandbox.fonts import Font, is_cjk


def clip_lines(lines: list[str], font: Font, width: int) -> str:
    return "\n".join(clip(line, font, width) for line in lines)


def clip(text: str, font: Font, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle] + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "…"


def _units(text: str) -> list[tuple[str, bool]]:
    """(piece, whether a space goes before it): whole words, but each CJK character on its own."""
    units: list[tuple[str, bool]] = []
    for word in text.split():
        spaced = True
        run = ""
        for char in word:
            if is_cjk(char):
                if run:
                    units.append((run, spaced))
                    spaced, run = False, ""
                units.append((char, spaced))
                spaced = False
            else:
                run += char
        if run:
            units.append((run, spaced))
    return units


def _join(units: list[tuple[str, bool]]) -> str:
    return "".join((" " if spaced and index else "") + piece for index, (piece, spaced) in enumerate(units))


def wrap(text: str, font: Font, width: int, max_lines: int) -> list[str]:
    """Greedy wrap that stops after max_lines (long prompts end with an ellipsis)."""
    units = _units(text)
    lines: list[str] = []
    current: list[tuple[str, bool]] = []
    for position, unit in enumerate(units):
        if font.getlength(_join([*current, unit])) <= width:
            current.append(unit)
            continue
        if current:
            lines.append(_join(current))
        current = [(unit[0], False)]
        if len(lines) == max_lines:
            rest = _join([(lines[-1], False), *units[position : position + 40]])
            lines[-1] = clip(rest, font, width)
            return lines
    if current:
        lines.append(clip(_join(current), font, width))
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], clip(" ".join(lines[max_lines - 1 :]) + " …", font, width)]
    return lines
