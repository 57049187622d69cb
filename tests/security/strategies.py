"""Hypothesis strategies for the protocol fuzz tests: JSON of every shape, and command bodies of
every type a node answers.

The command table is a node's own (``Node.dispatch``: the core's commands and those of every
feature ``liveroom.app`` lists), so a feature's new command is fuzzed without anyone adding it
to a list.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from hypothesis import strategies as st

from liveroom import protocol
from liveroom.app import Node
from liveroom.config import Settings

COMMANDS = Node(Settings(secret="x" * 32)).dispatch.commands
COMMAND_TYPES = sorted(COMMANDS)

#: strings that have tripped validators elsewhere: empty, blank, huge, control and odd Unicode
NASTY_TEXT = st.sampled_from(
    ["", " ", "\x00", "\u202e", "\ud7ff", "a" * 65, "a" * 5000, "*", "../x", "1e309", "0", "-1"]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 2**31, 2**53 + 1, 10**18]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
    NASTY_TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def fields_of(cls: type[protocol.Command]) -> list[tuple[str, Any]]:
    """A command's dataclass fields and their type hints, ``id`` first."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _plausible(hint: Any) -> st.SearchStrategy[Any]:
    """Values of the field's own type, so the fuzzer reaches past the type checks."""
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.integers(-5, 1000)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is str:
        return st.text(max_size=80) | st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
    return JSON


@st.composite
def command_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A command of a registered type, its fields drawn from anything JSON can hold."""
    kind = draw(st.sampled_from(COMMAND_TYPES))
    body: dict[str, Any] = {"type": kind}
    body["id"] = draw(st.one_of(st.text(min_size=1, max_size=64), SCALARS))
    for name, hint in fields_of(COMMANDS[kind])[1:]:
        if draw(st.booleans()):
            body[name] = draw(st.one_of(JSON, _plausible(hint)))
    body.update(draw(st.dictionaries(st.text(max_size=8), SCALARS, max_size=2)))
    body["type"] = kind
    return kind, body
