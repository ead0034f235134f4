"""The declared shape of each file the project reads back (run logs, resume states, checkpoint sidecars,
provenance.json), checked where the file enters: a file of another shape is one line naming the file and the field.

    check(data, {"models": DictOf(LOG_ENTRY)}, path)   # FileFormatError: "...training_log.json: models: expected
                                                        # an object, got a list (...)"

A shape is a type (str, int, float, bool, dict, list; a float is finite, an int is not a bool), a dict of
{key: shape} (those keys must be there, others may be: files written by later versions stay readable), Exact({...})
(those keys and no others: what becomes a dataclass), DictOf(shape), ListOf(shape), Maybe(shape) (or None), or ANY.
Small on purpose (no pydantic): the shapes are a few dozen lines, and the message format is the project's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from problem2.core.cli import UserError

ANY = object()


class FileFormatError(UserError, ValueError):
    """A file the project wrote, read back in a shape it was not written in (hand-edited, old, or foreign)."""


@dataclass(frozen=True)
class DictOf:
    values: object


@dataclass(frozen=True)
class ListOf:
    items: object


@dataclass(frozen=True)
class Maybe:
    shape: object


@dataclass(frozen=True)
class Exact:
    fields: dict


NAMES = {str: "a string", int: "an integer", float: "a finite number", bool: "true or false", dict: "an object",
         list: "a list"}


def check(value, shape, source, error: type = None):
    """value, when it has `shape`; `error` (FileFormatError by default, a UserError) naming `source` (the file) and
    the field otherwise."""
    problem = mismatch(value, shape, "")
    if problem:
        where, what = problem
        raise (error or FileFormatError)(f"{source}: {where or 'the file'} {what} (hand-edited, or written by another "
                              f"version? restore it, or delete it to recompute it)")
    return value


def mismatch(value, shape, field: str) -> tuple | None:
    """(field, what is wrong with it) where value first differs from shape; None when it fits."""
    if shape is ANY:
        return None
    if isinstance(shape, Maybe):
        return None if value is None else mismatch(value, shape.shape, field)
    if isinstance(shape, type):
        ok = isinstance(value, shape) and not (shape is int and isinstance(value, bool))
        if shape is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else expected(field, NAMES.get(shape, shape.__name__), value)
    if isinstance(shape, ListOf):
        if not isinstance(value, list):
            return expected(field, "a list", value)
        return next((m for i, v in enumerate(value) if (m := mismatch(v, shape.items, f"{field}[{i}]"))), None)
    if not isinstance(value, dict):
        return expected(field, "an object", value)
    if isinstance(shape, DictOf):
        return next((m for k, v in value.items() if (m := mismatch(v, shape.values, join(field, k)))), None)
    fields = shape.fields if isinstance(shape, Exact) else shape
    missing = [k for k in fields if k not in value and not isinstance(fields[k], Maybe)]
    if missing:
        return join(field, missing[0]), "is missing"
    extra = sorted(set(value) - set(fields)) if isinstance(shape, Exact) else []
    if extra:
        return join(field, extra[0]), "is not a field of this file"
    return next((m for k, s in fields.items() if k in value and (m := mismatch(value[k], s, join(field, k)))), None)


def expected(field: str, shape_name: str, value) -> tuple:
    return field, f"should be {shape_name}, is {describe(value)}"


def join(field: str, key) -> str:
    return f"{field}.{key}" if field else str(key)


def describe(value) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value)}"
    return text if len(text) <= 60 else text[:57] + "..."
