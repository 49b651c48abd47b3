"""Lossless JSON for :class:`CPWL` and :class:`CPWLMap` (rationals as ``"p/q"`` strings, or
``"0x.../0x..."`` when an integer is too long for Python's decimal reader).

Format (version 1)::

    {"type": "cpwl.CPWL", "version": 1, "domain": [lo | null, hi | null],
     "breakpoints": ["p/q", ...], "slopes": [...], "intercepts": [...]}

Piece ``j`` is ``slopes[j] * x + intercepts[j]``.  A ``cpwl.CPWLMap`` document has the same
keys with ``slopes`` and ``intercepts`` as lists of per-piece rows (one entry per output).
Reading checks types, sortedness and continuity exactly and raises
:class:`cpwl.SerializationError` on anything else.
"""

from __future__ import annotations

import json
from typing import Any

from cpwl.errors import CPWLError, SerializationError
from cpwl.rationals import as_rational, rational_text

__all__ = ["cpwl_to_json", "cpwl_from_json", "map_to_json", "map_from_json"]

_VERSION = 1


def _domain_json(domain) -> list:
    return [
        None if domain._lo is None else rational_text(domain._lo),
        None if domain._hi is None else rational_text(domain._hi),
    ]


def cpwl_to_json(f) -> str:
    """JSON text of a CPWL (see the module docstring for the format)."""
    return json.dumps(
        {
            "type": "cpwl.CPWL",
            "version": _VERSION,
            "domain": _domain_json(f.domain),
            "breakpoints": [rational_text(t) for t in f._bps],
            "slopes": [rational_text(s) for s in f._s],
            "intercepts": [rational_text(c) for c in f._c],
        }
    )


def map_to_json(F) -> str:
    """JSON text of a CPWLMap (see the module docstring for the format)."""
    slopes, intercepts = F._rows()
    return json.dumps(
        {
            "type": "cpwl.CPWLMap",
            "version": _VERSION,
            "domain": _domain_json(F.domain),
            "breakpoints": [rational_text(t) for t in F._bps],
            "slopes": [[rational_text(v) for v in row] for row in slopes],
            "intercepts": [[rational_text(v) for v in row] for row in intercepts],
        }
    )


def _load(text: Any, expected_type: str) -> dict:
    if not isinstance(text, (str, bytes, bytearray)):
        raise SerializationError(f"from_json needs JSON text, got {type(text).__name__}")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise SerializationError(f"not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise SerializationError("the JSON document must be an object")
    if doc.get("type") != expected_type:
        raise SerializationError(f"expected a document of type {expected_type!r}, got {doc.get('type')!r}")
    if doc.get("version") != _VERSION:
        raise SerializationError(f"unsupported version {doc.get('version')!r}; this library reads version {_VERSION}")
    for key in ("domain", "breakpoints", "slopes", "intercepts"):
        if not isinstance(doc.get(key), list):
            raise SerializationError(f"key {key!r} must be a list")
    if len(doc["domain"]) != 2:
        raise SerializationError("'domain' must be [lo, hi] with null for an infinite end")
    return doc


def _number(value, where: str):
    if not isinstance(value, str):
        raise SerializationError(f"{where}: rationals are stored as strings like '3/7', got {value!r}")
    try:
        return as_rational(value)
    except CPWLError as err:
        raise SerializationError(f"{where}: {err}") from err


def _common(doc: dict):
    from cpwl.interval import Interval

    lo, hi = (None if v is None else _number(v, "domain") for v in doc["domain"])
    try:
        domain = Interval(lo, hi)
    except CPWLError as err:
        raise SerializationError(f"domain: {err}") from err
    bps = [_number(v, f"breakpoints[{j}]") for j, v in enumerate(doc["breakpoints"])]
    return domain, bps


def cpwl_from_json(text: str):
    """Read a CPWL document; :class:`cpwl.SerializationError` if it is malformed."""
    from cpwl.function import CPWL

    doc = _load(text, "cpwl.CPWL")
    domain, bps = _common(doc)
    s = [_number(v, f"slopes[{j}]") for j, v in enumerate(doc["slopes"])]
    c = [_number(v, f"intercepts[{j}]") for j, v in enumerate(doc["intercepts"])]
    try:
        return CPWL.from_pieces(bps, s, c, domain)
    except CPWLError as err:
        raise SerializationError(str(err)) from err


def map_from_json(text: str):
    """Read a CPWLMap document; :class:`cpwl.SerializationError` if it is malformed."""
    from cpwl.cpwl_map import CPWLMap
    from cpwl.function import CPWL

    doc = _load(text, "cpwl.CPWLMap")
    domain, bps = _common(doc)
    rows_s, rows_c = doc["slopes"], doc["intercepts"]
    if len(rows_s) != len(bps) + 1 or len(rows_c) != len(bps) + 1:
        raise SerializationError(f"{len(bps)} breakpoints need {len(bps) + 1} rows of slopes and intercepts")
    if not all(isinstance(r, list) for r in rows_s + rows_c):
        raise SerializationError("each piece's slopes and intercepts are lists, one entry per output")
    widths = {len(r) for r in rows_s + rows_c}
    if len(widths) != 1 or widths == {0}:
        raise SerializationError("every row must have the same positive number of outputs")
    k = widths.pop()
    comps = []
    for i in range(k):
        s = [_number(row[i], f"slopes[{j}][{i}]") for j, row in enumerate(rows_s)]
        c = [_number(row[i], f"intercepts[{j}][{i}]") for j, row in enumerate(rows_c)]
        try:
            comps.append(CPWL.from_pieces(bps, s, c, domain))
        except CPWLError as err:
            raise SerializationError(f"output {i}: {err}") from err
    return CPWLMap._from_component_pieces(bps, comps, domain)
