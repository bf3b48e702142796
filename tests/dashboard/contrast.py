"""WCAG 2 contrast, and a small reader of the dashboard's stylesheet: its custom properties and
its rules, so a test can judge the colours the pages really use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RGB = tuple[float, float, float]

STYLESHEET = (
    Path(__file__).resolve().parents[2] / "src" / "pipepulse" / "dashboard" / "static" / "dashboard.css"
)

_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})\b")
_RGB = re.compile(r"rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)")


def parse_colour(text: str, over: RGB = (255, 255, 255)) -> RGB | None:
    """``#abc``, ``#aabbcc``, ``rgb()`` or ``rgba()`` (composited over ``over``); None otherwise."""
    text = text.strip()
    if m := _HEX.fullmatch(text):
        digits = m.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    if m := _RGB.fullmatch(text):
        r, g, b = (float(m.group(i)) for i in (1, 2, 3))
        alpha_text = m.group(4)
        alpha = 1.0
        if alpha_text:
            alpha = float(alpha_text[:-1]) / 100 if alpha_text.endswith("%") else float(alpha_text)
        return (
            r * alpha + over[0] * (1 - alpha),
            g * alpha + over[1] * (1 - alpha),
            b * alpha + over[2] * (1 - alpha),
        )
    return None


def luminance(colour: RGB) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: RGB, b: RGB) -> float:
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


@dataclass(frozen=True)
class Rule:
    selector: str
    declarations: dict[str, str]


def _strip_comments(css: str) -> str:
    return re.sub(r"/\*.*?\*/", "", css, flags=re.S)


def rules(css: str) -> list[Rule]:
    """Every style rule, media queries opened up (selectors are kept whole, as written)."""
    css = _strip_comments(css)
    out: list[Rule] = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        selector = selector.strip()
        if selector.startswith("@"):
            selector = selector.split("{")[-1].strip()
        selector = re.sub(r"^@media[^{]*", "", selector).strip()
        declarations: dict[str, str] = {}
        for part in body.split(";"):
            if ":" in part:
                name, value = part.split(":", 1)
                declarations[name.strip()] = value.replace("!important", "").strip()
        out.append(Rule(selector, declarations))
    return out


def custom_properties(css: str) -> dict[str, str]:
    root = next(r for r in rules(css) if r.selector == ":root")
    return {k: v for k, v in root.declarations.items() if k.startswith("--")}


def resolve(value: str, props: dict[str, str]) -> str:
    """A value with its ``var(--x)`` references replaced, as far as they go."""
    for _ in range(5):
        value = re.sub(r"var\((--[\w-]+)\)", lambda m: props.get(m.group(1), m.group(0)), value)
    return value


def colour_in(value: str, props: dict[str, str], over: RGB = (255, 255, 255)) -> RGB | None:
    """The colour a declaration sets (the first colour in it, e.g. of a border shorthand)."""
    value = resolve(value, props)
    for token in re.findall(r"#[0-9a-fA-F]{3,6}\b|rgba?\([^)]*\)", value):
        found = parse_colour(token, over)
        if found is not None:
            return found
    return None
