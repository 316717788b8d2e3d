"""The reply-length lint walks every questionnaire through the real engine."""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from typing import Any

import pytest

from bot.cli import main
from bot.content.bundle import Content
from bot.content.models import LANGS, Flow
from bot.engine import lint
from bot.engine.lint import long_replies
from tests.conftest import ROOT

REPORT = re.compile(
    r"^flow '(?P<flow>[a-z0-9_]+)' \((?P<lang>nl|en)\): reply of (?P<size>\d+) characters "
    r"(?:after (?P<path>.+?)|at the start): '(?P<snippet>.*)…'$"
)


def _parse(report: str) -> re.Match[str]:
    match = REPORT.match(report)
    assert match, f"unexpected report format: {report!r}"
    return match


def _path(report: str) -> list[tuple[str, str]]:
    """The answers a report names, as (step, choice) pairs."""
    path = _parse(report)["path"]
    pairs = [part.partition("=") for part in path.split(", ")] if path else []
    return [(step, choice) for step, _, choice in pairs]


def _with_flow(content: Content, raw: dict[str, Any]) -> Content:
    """The shipped content with one made-up questionnaire instead of the real ones."""
    flow = Flow.model_validate(raw)
    contact = content.contact_flow
    return dataclasses.replace(content, flows={flow.id: flow, contact.id: contact})


def _toy(reason: str = "Omdat het zo is.") -> dict[str, Any]:
    def choices(*items: tuple[str, str]) -> list[dict[str, Any]]:
        return [{"id": i, "label": {"nl": label, "en": label}} for i, label in items]

    return {
        "id": "proef",
        "kind": "audience",
        "title": {"nl": "Proef", "en": "Trial"},
        "steps": [
            {
                "id": "kleur",
                "ask": {"nl": "Welke kleur?", "en": "Which colour?"},
                "choices": choices(("rood", "rood"), ("groen", "groen"), ("blauw", "blauw")),
            },
            {
                "id": "maat",
                "ask": {"nl": "Welke maat?", "en": "Which size?"},
                "choices": choices(("s", "klein"), ("xl", "heel erg groot"), ("m", "middel")),
            },
        ],
        "outcome": {
            "verdicts": [
                {"when": {"kleur": "rood"}, "verdict": "nog_niet"},
                {"verdict": "geschikt"},
            ],
            "reasons": [{"text": {"nl": reason, "en": reason}}],
            "next_steps": [{"text": {"nl": "Kijk verder.", "en": "Look further."}}],
        },
    }


def test_a_small_limit_reports_every_flow_in_both_languages(content: Content) -> None:
    reports = long_replies(content, limit=50)
    for flow in content.audiences:
        for lang in LANGS:
            mine = [r for r in reports if r.startswith(f"flow {flow.id!r} ({lang}): ")]
            assert mine, f"nothing reported for {flow.id} ({lang})"
            # The verdict composed at the end of the questionnaire is among them.
            header = content.messages.outcome_header.get(lang).split("{")[0]
            head = " ".join(header.split())[:20]
            assert any(f": '{head}" in r for r in mine), (flow.id, lang, head)


def test_reports_are_well_formed_over_the_limit_and_unique(content: Content) -> None:
    limit = 120
    reports = long_replies(content, limit=limit)
    assert len(reports) == len(set(reports))
    audience_steps = {f.id: {s.id for s in f.steps} for f in content.audiences}
    for report in reports:
        match = _parse(report)
        assert int(match["size"]) > limit
        assert len(match["snippet"]) <= 60
        # Stops at the end of the questionnaire: no answer of the contact flow in any path.
        assert {step for step, _ in _path(report)} <= audience_steps[match["flow"]], report


def test_the_contact_flow_is_not_walked(content: Content) -> None:
    consent = next(s for s in content.contact_flow.steps if s.role == "consent")
    reports = long_replies(content, limit=0)
    for lang in LANGS:
        snippet = " ".join(consent.ask.get(lang).split())[:40]
        assert not any(snippet in r for r in reports)


def test_nothing_is_reported_under_a_generous_limit(content: Content) -> None:
    assert long_replies(content, limit=100_000) == []


def test_the_real_content_is_checked_quickly(content: Content) -> None:
    started = time.perf_counter()
    reports = long_replies(content)
    assert time.perf_counter() - started < 10  # about 0.1 s; generous for slow CI machines
    for report in reports:
        assert int(_parse(report)["size"]) > lint.MAX_REPLY


def test_choices_no_condition_tells_apart_are_tried_once(content: Content) -> None:
    reports = long_replies(_with_flow(content, _toy()), limit=0)
    paths = [dict(_path(r)) for r in reports if r.startswith("flow 'proef' (nl)")]
    colours = {p.get("kleur") for p in paths} - {None}
    sizes = {p.get("maat") for p in paths} - {None}
    # "rood" is named in a condition; "groen" stands in for the other colours.
    assert colours == {"rood", "groen"}
    # No condition looks at the size: one of them is tried.
    assert sizes == {"s"}
    # The same question asked on both paths is reported once.
    assert sum("Welke maat?" in r for r in reports if "(nl)" in r) == 1


def test_a_label_used_in_the_verdict_picks_the_longest_choice(content: Content) -> None:
    reports = long_replies(_with_flow(content, _toy("Je koos maat {maat}.")), limit=0)
    sizes = {dict(_path(r)).get("maat") for r in reports} - {None}
    assert sizes == {"xl"}


def test_content_check_prints_long_replies_as_warnings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MKBROUTE_CONTENT_DIR", raising=False)
    monkeypatch.setattr(lint, "long_replies", functools.partial(long_replies, limit=50))
    assert main(["content", "check", "--dir", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^warning: flow 'student' \(nl\): reply of \d+ characters", out, re.M)
    assert "Content OK" in out
