"""Conditions written as data in the content files, parsed once and evaluated without eval.

A condition is a mapping. ``{diploma: havo}`` is equality, ``{diploma: [havo, vwo]}`` is
membership, several keys in one mapping must all hold, and ``all``/``any``/``not`` combine
conditions. Keys name answers (step ids) or the special key ``doelgroep`` (the audience flow).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["All", "AnyOf", "Condition", "Eq", "Not", "evaluate", "iter_eq", "parse_condition"]


@dataclass(frozen=True, slots=True)
class Eq:
    """The answer stored under ``key`` is one of ``values``."""

    key: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition: TypeAlias = Eq | All | AnyOf | Not

_COMBINATORS = {"all", "any", "not"}


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{where}: expected a text value, got {type(value).__name__}")
    return str(value)


def parse_condition(raw: Any, where: str = "when") -> Condition:
    """Turn the YAML form of a condition into a frozen tree; raise ValueError naming the path."""
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{where}: a condition must be a non-empty mapping")
    parts: list[Condition] = []
    for key, value in raw.items():
        path = f"{where}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{path}: expected a non-empty list of conditions")
            items = tuple(parse_condition(v, f"{path}[{i}]") for i, v in enumerate(value))
            parts.append(All(items) if key == "all" else AnyOf(items))
        elif key == "not":
            parts.append(Not(parse_condition(value, path)))
        elif isinstance(key, str) and key:
            if isinstance(value, list):
                if not value:
                    raise ValueError(f"{path}: the list of values is empty")
                values = frozenset(_scalar(v, f"{path}[{i}]") for i, v in enumerate(value))
            else:
                values = frozenset({_scalar(value, path)})
            parts.append(Eq(key, values))
        else:
            raise ValueError(f"{where}: invalid key {key!r}")
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def evaluate(cond: Condition, facts: Mapping[str, str]) -> bool:
    """True when ``cond`` holds for ``facts``; a missing answer never equals anything."""
    if isinstance(cond, Eq):
        value = facts.get(cond.key)
        return value is not None and value in cond.values
    if isinstance(cond, All):
        return all(evaluate(c, facts) for c in cond.items)
    if isinstance(cond, AnyOf):
        return any(evaluate(c, facts) for c in cond.items)
    return not evaluate(cond.item, facts)


def iter_eq(cond: Condition) -> Iterator[Eq]:
    """Every equality test inside ``cond``, for validating its keys and values."""
    if isinstance(cond, Eq):
        yield cond
    elif isinstance(cond, All | AnyOf):
        for item in cond.items:
            yield from iter_eq(item)
    else:
        yield from iter_eq(cond.item)
