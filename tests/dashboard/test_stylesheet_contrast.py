"""WCAG AA contrast of the colours dashboard.css really uses, read from the stylesheet itself:
text 4.5:1 against what it sits on, the focus ring and meaningful marks 3:1."""

from __future__ import annotations

import re

import pytest

from pipepulse.dashboard import charts
from tests.dashboard.contrast import (
    RGB,
    STYLESHEET,
    Rule,
    colour_in,
    contrast,
    custom_properties,
    parse_colour,
    rules,
)

CSS = STYLESHEET.read_text()
PROPS = custom_properties(CSS)
RULES = rules(CSS)


def prop(name: str) -> RGB:
    found = parse_colour(PROPS[name])
    assert found is not None, name
    return found


SURFACES = [prop("--surface"), prop("--bg")]
# What text without a background of its own sits on, where that is not the page.
BACKDROPS: list[tuple[str, list[RGB]]] = [
    (".topbar", [prop("--topbar")]),
    (".crumbs", [prop("--topbar")]),
    (".brand", [prop("--topbar")]),
    (".offline-banner", [parse_colour("#3f2a00") or (0, 0, 0)]),
    (".open-incident", [prop("--error-bg")]),
    (".form-error", [prop("--error-bg")]),
    ('.filters a[aria-current="true"] .count', [prop("--text")]),
]
# Colours that carry no meaning of their own (WCAG 1.4.11 asks nothing of them), with why.
DECORATIVE = {
    ".chart .grid": "grid lines; the labelled ticks carry the scale",
    ".chart .baseline": "the axis line; the labels carry it",
    ".chart .day-line": "day separators; the day labels carry them",
    ".hit": "the hover area of a bar and its faint highlight",
    ".chart .fail-band": "a tint behind a failing hour; the red triangle under it carries it",
    ".chart .hatch": "the stripes of the current hour; its label and legend say it",
    ".spark-area": "the fill under a sparkline; the line carries the values",
}


def backdrops(selector: str) -> list[RGB]:
    for prefix, colours in BACKDROPS:
        if selector.startswith(prefix):
            return colours
    return SURFACES


def text_pairs() -> list[tuple[str, RGB, RGB]]:
    pairs = []
    for rule in RULES:
        colour_value = rule.declarations.get("color")
        if colour_value is None:
            continue
        background = rule.declarations.get("background", rule.declarations.get("background-color"))
        behind = backdrops(rule.selector)
        if background is not None and (own := colour_in(background, PROPS, behind[0])) is not None:
            behind = [own]
        for backdrop in behind:
            text = colour_in(colour_value, PROPS, backdrop)
            if text is not None:
                pairs.append((rule.selector, text, backdrop))
    # SVG text is coloured with fill.
    for rule in RULES:
        if ".axis" in rule.selector and "fill" in rule.declarations:
            text = colour_in(rule.declarations["fill"], PROPS)
            assert text is not None
            pairs += [(rule.selector, text, surface) for surface in SURFACES[:1]]
    return pairs


def mark_pairs() -> list[tuple[str, RGB, RGB]]:
    pairs = []
    for rule in RULES:
        if any(d in rule.selector for d in DECORATIVE):
            continue
        for name in ("fill", "stroke", "border-left-color", "border-top-color", "outline", "outline-color"):
            value = rule.declarations.get(name)
            if value is None or ".axis" in rule.selector:
                continue
            colour = colour_in(value, PROPS)
            if colour is not None:
                pairs += [(f"{rule.selector} {{{name}}}", colour, b) for b in backdrops(rule.selector)]
    for rule in RULES:  # the coloured part of the success-rate bars
        if re.match(r"\.rate-\d", rule.selector) and "background" in rule.declarations:
            colour = colour_in(rule.declarations["background"], PROPS)
            if colour is not None:
                pairs.append((rule.selector, colour, prop("--surface")))
    return pairs


def test_stylesheet__text_colours__at_least_4_5_to_1_on_what_they_sit_on() -> None:
    pairs = text_pairs()
    assert len(pairs) > 40  # the reader found the stylesheet's colours
    failing = [(s, round(contrast(t, b), 2)) for s, t, b in pairs if contrast(t, b) < 4.5]
    assert failing == []


def test_stylesheet__focus_ring_and_marks__at_least_3_to_1() -> None:
    pairs = mark_pairs()
    selectors = {s.split(" {")[0] for s, _, _ in pairs}
    assert {
        ":focus-visible",
        ".band-idle",
        ".band-degraded",
        ".status-panel-idle",
        ".card-active",
    } <= selectors
    failing = [(s, round(contrast(m, b), 2)) for s, m, b in pairs if contrast(m, b) < 3]
    assert failing == []


@pytest.mark.parametrize("colour", [*charts.SERIES_COLOURS, charts.OTHER_COLOUR])
def test_chart_series_colours__each__at_least_3_to_1_on_the_white_plot(colour: str) -> None:
    parsed = parse_colour(colour)
    assert parsed is not None
    assert contrast(parsed, (255, 255, 255)) >= 3


def test_contrast__known_pairs__wcag_figures() -> None:
    assert round(contrast((0, 0, 0), (255, 255, 255)), 1) == 21.0
    old_ring = parse_colour("#93b4ff")
    old_active = parse_colour("#15803d")
    old_active_bg = parse_colour("#e7f6ec")
    assert old_ring is not None
    assert old_active is not None
    assert old_active_bg is not None
    assert round(contrast(old_ring, (255, 255, 255)), 2) == 2.06  # the ring the issue measured
    assert round(contrast(old_active, old_active_bg), 2) == 4.49  # and the "Active" badge


def test_rules_reader__media_queries_and_custom_properties__read() -> None:
    found = rules("@media (max-width: 9px) { .a { color: var(--x); } } .b{fill:#fff}")
    assert found == [Rule(".a", {"color": "var(--x)"}), Rule(".b", {"fill": "#fff"})]
    assert colour_in("3px solid var(--focus)", PROPS) == prop("--focus")
