"""Typed results: how the JSON files the report reads become dataclasses (JsonResult, strict), the base of the
files typed at their top level only (Sections), and the one threshold-key convention. Each file's type lives beside
the study that writes it (studies/evaluation.py: Metrics for metrics.json, studies/ablations.py: Ablations,
studies/robustness.py: Robustness, ...; studies/result_files.py maps the Sections files).

Threshold keys: every result dict, in memory and on disk, keys a PCK threshold by `tkey(t)` ("0.05",
"0.1", ...), and names a flat metric `pck@` + tkey(t). Only the assignment's `compute_pck` keeps float
keys (its documented API); results convert its output with `by_tkey`.

    m = Metrics.load(RESULTS / "metrics.json")        # (studies.evaluation.Metrics) ResultFormatError naming the
                                                      # file and field if malformed
    m.methods["regression"].standard.pck["0.05"]
    m.save(path)                                      # exactly the dict that load reads

Loading is strict: a missing or unknown field is an error that names it, so a stale or hand-edited file
cannot be read as something it is not.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

from problem2.core import storage
from problem2.core.runtime import UserError


class ResultFormatError(UserError):
    """A results file whose content does not match its dataclass."""


def tkey(threshold) -> str:
    """The key of a PCK threshold: 0.05 -> '0.05', 0.1 -> '0.1', '0.10' -> '0.1'."""
    return f"{float(threshold):g}"


def by_tkey(per_threshold: dict) -> dict:
    """{0.05: v} (float keys, as compute_pck returns) -> {'0.05': v}."""
    return {tkey(t): v for t, v in per_threshold.items()}


def from_dict(cls, data, where: str):
    """Build dataclass cls from a JSON-shaped dict, recursively by its type hints; strict about field names."""
    if not isinstance(data, dict):
        raise ResultFormatError(f"{where}: expected an object for {cls.__name__}, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = [n for n, f in fields.items() if n not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    unknown = sorted(set(data) - set(fields))
    if missing or unknown:
        raise ResultFormatError(f"{where}: {cls.__name__} " + "; ".join(
            part for part in (f"missing {missing}" if missing else "", f"unknown {unknown}" if unknown else "") if part)
            + " (written by another version? re-run the stage that writes it)")
    hints = typing.get_type_hints(cls)
    return cls(**{name: _convert(hints[name], value, f"{where}.{name}") for name, value in data.items()})


def _convert(tp, value, where: str):
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None:
            return None
        tp = next(a for a in args if a is not type(None))
        return _convert(tp, value, where)
    if origin is dict and args:
        return {k: _convert(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
    if origin is list and args:
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class JsonResult:
    """Mixin: save to and load from one JSON file."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path) -> None:
        storage.save_json(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: dict, where: str = ""):
        return from_dict(cls, data, where or cls.__name__)

    @classmethod
    def load(cls, path, missing_ok: bool = False):
        """The file as cls; None for a missing file when missing_ok, else a UserError."""
        data = storage.load_json(path)
        if data is None:
            if missing_ok:
                return None
            raise UserError(f"{path} is missing: run the stage that writes it (python -m problem2 all --only ...)")
        return from_dict(cls, data, str(path))


# ------------------------------- the base of the files typed at their top level (studies/result_files.py)

class Sections(JsonResult):
    """A result file typed at its top level only: loading is strict about the section names (an unknown one is an
    error naming it), and each section is the nested dict whose keys its writer's docstring lists. Read like the
    dict it was written from: obj['seeds'], obj.get('precision'), 'cost' in obj."""

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__ or getattr(self, key) is None:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default=None):
        value = getattr(self, key, None) if key in self.__dataclass_fields__ else None
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __iter__(self):
        return iter(self.keys())

    def keys(self) -> list:
        return [k for k in self.__dataclass_fields__ if getattr(self, k) is not None]

    def items(self) -> list:
        return [(k, getattr(self, k)) for k in self.keys()]


def load_optional(cls, results: Path, name: str):
    """RESULTS/name as cls, or None when the file is not there (a skipped stage)."""
    return cls.load(Path(results) / name, missing_ok=True)
