"""Frozen dataclass configs: one type feeds the CLI flags, the notebook widgets and ``config.json``.

Declare fields with :func:`option` (a default and a one-line help). :func:`add_arguments` turns a
config class into argparse flags, :func:`from_namespace` builds the config back, and
:func:`save_config` / :func:`load_config` round-trip it as JSON next to a run's outputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import operator
import os
import re
import typing
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.io import write_text_atomic

__all__ = [
    "Config",
    "check_ranges",
    "field_range",
    "option",
    "add_arguments",
    "from_namespace",
    "to_dict",
    "save_config",
    "load_config",
    "config_hash",
    "field_help",
]


def option(
    default: Any,
    help: str,
    *,
    positional: bool = False,
    choices=None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    pattern: tuple[str, str] | None = None,
    **kw,
):
    """A config field with its default, one-line help, CLI hints and, for numbers, its range
    (``ge``/``gt``/``le``/``lt``; applied to each element of a tuple). Numbers must also be
    finite; a non-empty string must match ``pattern`` (``(regex, what it means)``).
    :class:`Config` checks every field when an instance is made, so the CLI, the notebook forms
    and ``config.json`` share one boundary."""
    meta = {
        "pattern": pattern,
        "help": help,
        "positional": positional,
        "choices": choices,
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
    }
    if isinstance(default, list | dict | set):
        raise TypeError("use tuples for sequence defaults (configs are frozen)")
    return dataclasses.field(default=default, metadata=meta, **kw)


_BOUNDS = (
    ("ge", ">=", operator.ge),
    ("gt", ">", operator.gt),
    ("le", "<=", operator.le),
    ("lt", "<", operator.lt),
)


def field_range(f: dataclasses.Field) -> str:
    """The declared range of a numeric field as text, e.g. ``>= 1`` or ``> 0, <= 1``."""
    return ", ".join(
        f"{sym} {f.metadata[k]}" for k, sym, _ in _BOUNDS if f.metadata.get(k) is not None
    )


MAX_INT = 2**31 - 1  # any whole-number field (steps, seeds, sizes): an int32 at most
PATH_FIELDS = ("root", "out", "logdir", "csv")  # an empty value would mean the current folder


def _check_number(f: dataclasses.Field, v) -> str | None:
    if f.name in PATH_FIELDS and isinstance(v, str) and not v.strip() and f.default != "":
        return "must name a path, got ''"
    pattern = f.metadata.get("pattern")
    if pattern and isinstance(v, str) and v and not re.fullmatch(pattern[0], v):
        return f"must be {pattern[1]}, got {v!r}"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if not math.isfinite(v):
        return f"must be a finite number, got {v}"
    for key, sym, op in _BOUNDS:
        bound = f.metadata.get(key)
        if bound is not None and not op(v, bound):
            return f"must be {sym} {bound}, got {v}"
    if isinstance(v, int) and abs(v) > MAX_INT:  # TensorFlow and numpy seeds hold no more
        return f"must be <= {MAX_INT}, got {v}"
    return None


def check_ranges(config) -> None:
    """Refuse any numeric field outside its declared range (and NaN/inf anywhere), any
    string not matching its pattern, and an empty path where the field has a default path.

    Raises:
        WorkbenchError: ``--flag: must be >= 1, got 0`` (the field as its CLI flag).
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            problem = _check_number(f, v)
            if problem:
                raise WorkbenchError(
                    problem, _flag(f.name) if not f.metadata.get("positional") else f.name
                )


class Config:
    """Base of every config dataclass: ranges are checked when an instance is made."""

    def __post_init__(self):
        check_ranges(self)


def field_help(cls, name: str) -> str:
    """The one-line help of field ``name`` of config class ``cls``."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}[name]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """Add one flag per field of dataclass ``cls`` (positional where the field says so)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        origin = typing.get_origin(t)
        args = typing.get_args(t)
        meta = f.metadata
        kw: dict[str, Any] = {"help": meta.get("help", "")}
        if meta.get("choices"):
            kw["choices"] = meta["choices"]
        if origin is typing.Literal:
            kw["choices"] = list(args)
        if t is bool:
            said = "(default: " in kw["help"]
            parser.add_argument(
                _flag(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=kw["help"]
                if said
                else f"{kw['help']} (default: {'on' if f.default else 'off'})",
            )
            continue
        if origin is tuple:
            elem = args[0] if args else str
            kw.update(
                nargs="+" if (len(args) == 2 and args[1] is Ellipsis) else len(args), type=elem
            )
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            base = [a for a in args if a is not type(None)][0]
            kw["type"] = base
        elif origin is None and t in (int, float, str):
            kw["type"] = t
        if meta.get("positional"):
            if f.default is dataclasses.MISSING or f.default is None:
                parser.add_argument(f.name, **kw)
            else:
                parser.add_argument(f.name, nargs="?", default=f.default, **kw)
        else:
            rng = field_range(f)
            if "(default: " not in kw["help"]:  # a help that states its default says it once
                kw["help"] = f"{kw['help']} (default: {f.default}{'; ' + rng if rng else ''})"
            elif rng:
                kw["help"] = f"{kw['help']} ({rng})"
            parser.add_argument(_flag(f.name), dest=f.name, default=f.default, **kw)


def from_namespace(cls, ns: argparse.Namespace):
    """Build a ``cls`` instance from parsed arguments (lists become tuples)."""
    values = {}
    for f in dataclasses.fields(cls):
        v = getattr(ns, f.name)
        values[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**values)


def to_dict(config) -> dict:
    """A JSON-ready dict of a config (tuples as lists), with its class name."""
    d = dataclasses.asdict(config)
    return {"_type": type(config).__name__, **json.loads(json.dumps(d))}


def config_hash(config) -> str:
    """Stable 12-hex hash of a config's JSON (key order fixed)."""
    blob = json.dumps(to_dict(config), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def save_config(config, path: str | os.PathLike) -> Path:
    """Write ``config`` as pretty JSON, atomically."""
    return write_text_atomic(path, json.dumps(to_dict(config), indent=2, sort_keys=True) + "\n")


def _show(v) -> str:
    text = json.dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_value(t, f: dataclasses.Field, v):
    """``(value, None)`` with JSON value ``v`` as field ``f`` of type ``t`` holds it (a whole
    float as an int, an int as a float, a list as a tuple), or ``(None, problem)``."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is tuple:
        if not isinstance(v, list):
            return None, f"must be a list, got {_show(v)}"
        elems = [args[0]] * len(v) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(elems) != len(v):
            return None, f"must be a list of {len(elems)} values, got {len(v)}"
        out = []
        for et, x in zip(elems, v, strict=True):
            x, problem = _json_value(et, f, x)
            if problem:
                return None, problem
            out.append(x)
        return tuple(out), None
    number = isinstance(v, int | float) and not isinstance(v, bool)
    if t is bool and not isinstance(v, bool):
        return None, f"must be true or false, got {_show(v)}"
    if t is int and not (number and float(v).is_integer()):
        return None, f"must be a whole number, got {_show(v)}"
    if t is float and not number:
        return None, f"must be a number, got {_show(v)}"
    if t is str and not isinstance(v, str):
        return None, f"must be a string, got {_show(v)}"
    choices = f.metadata.get("choices")
    if t is str and choices and v not in choices:
        return None, f"must be one of {', '.join(choices)}, got {_show(v)}"
    v = int(v) if t is int else float(v) if t is float else v
    return v, _check_number(f, v)


def load_config(cls, path: str | os.PathLike, required: tuple[str, ...] = ()):
    """Read a config saved by :func:`save_config`. Unknown fields, values of the wrong type
    (``"abc"`` or ``64.5`` for a whole number), values outside a field's range or choices, and
    missing ``required`` fields are refused; other missing fields take their defaults.

    Raises:
        WorkbenchError: naming ``path`` and the field, e.g.
            ``run/config.json: field 'height': must be a whole number, got 64.5``.
    """
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise WorkbenchError("config file not found", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"config is not valid JSON ({e})", path) from None
    except OSError as e:
        raise WorkbenchError(f"cannot read config ({e.strerror})", path) from None
    if not isinstance(d, dict):
        raise WorkbenchError("config must be a JSON object", path)
    typ = d.pop("_type", cls.__name__)
    if typ != cls.__name__:
        raise WorkbenchError(f"config is a {_show(typ)}, expected a {cls.__name__}", path)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise WorkbenchError(
            f"unknown config fields {unknown} (expected some of {sorted(fields)})", path
        )
    missing = [name for name in required if name not in d]
    if missing:
        raise WorkbenchError(f"field {missing[0]!r} is missing (it shapes the model)", path)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, v in d.items():
        if v is None and fields[name].default is None:  # a field that may be unset
            values[name] = None
            continue
        values[name], problem = _json_value(hints[name], fields[name], v)
        if problem:
            raise WorkbenchError(f"field {name!r}: {problem}", path)
    try:
        return cls(**values)
    except WorkbenchError as e:  # a class's own cross-field check names its --flag
        field = (e.path or "").lstrip("-").replace("-", "_")
        raise WorkbenchError(f"field {field!r}: {e.message}", path) from None
