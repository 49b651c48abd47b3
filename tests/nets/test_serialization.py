"""JSON documents: lossless round trips and a typed error for every malformed document."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from cpwl import CPWL, CPWLMap, strategies

GOOD = json.loads(CPWL.from_points([(0, 0), (1, "1/3"), (2, 0)]).to_json())


def _with(**changes):
    doc = dict(GOOD)
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        json.dumps({**GOOD, "type": "other"}),
        _with(version=2),
        _with(breakpoints="1"),
        _with(domain=["0"]),
        _with(domain=["1", "0"]),
        _with(breakpoints=[1]),
        _with(breakpoints=["x"]),
        _with(breakpoints=["nan"]),
        _with(breakpoints=["2/1"]),
        _with(slopes=["1/3"]),
        _with(intercepts=["0", "5"]),
        "[" * 100000,
    ],
)
def test_malformed_documents_raise_serialization_error(text):
    with pytest.raises(cpwl.SerializationError):
        CPWL.from_json(text)


def test_non_text_is_refused():
    with pytest.raises(cpwl.SerializationError):
        CPWL.from_json(None)


@given(st.text(max_size=60) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_fuzzed_text_never_escapes_the_typed_error(text):
    try:
        CPWL.from_json(text)
    except cpwl.SerializationError:
        pass


@given(st.lists(strategies.cpwl_functions(domain=(-1, 2)), min_size=1, max_size=3))
def test_map_json_round_trip(fs):
    F = CPWLMap.from_components(fs)
    G = CPWLMap.from_json(F.to_json())
    assert G == F and G.breakpoints == F.breakpoints


def test_map_json_rejects_ragged_rows():
    doc = json.loads(CPWLMap.from_components([CPWL.identity(), CPWL.constant(1)]).to_json())
    doc["slopes"][0] = ["1"]
    with pytest.raises(cpwl.SerializationError):
        CPWLMap.from_json(json.dumps(doc))
