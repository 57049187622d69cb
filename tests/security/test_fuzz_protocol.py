"""Hypothesis against the protocol decoder and every command's validation.

The command table is a node's own (``Node.dispatch``: the core's commands and those of every
feature ``liveroom.app`` lists), so a feature's new command is fuzzed here without anyone
adding it to a list.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveroom import protocol
from liveroom.app import Node
from liveroom.config import Settings
from liveroom.errors import Code, CommandError

COMMANDS = Node(Settings(secret="x" * 32)).dispatch.commands
COMMAND_TYPES = sorted(COMMANDS)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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


def _expect_decoded_or_refused(data: str | bytes) -> protocol.Command | None:
    """``decode`` returns a registered command or raises ``CommandError``; nothing else."""
    try:
        command = protocol.decode(data, COMMANDS)
    except CommandError as exc:
        assert isinstance(exc.code, Code)
        assert isinstance(exc.message, str) and exc.message
        assert orjson.loads(protocol.error_reply(exc, None))["ok"] is False  # always sendable
        return None
    assert COMMANDS[command.type] is type(command)
    assert isinstance(command.id, str) and 0 < len(command.id) <= protocol.MAX_REQUEST_ID
    return command


def _conforms(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arm) for arm in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple, dict, set, frozenset):
        return isinstance(value, origin)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a hint too rich to check here


def _fields(cls: type[protocol.Command]) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


@FUZZ
@given(st.binary(max_size=300))
def test_decoder_survives_any_bytes(data: bytes) -> None:
    """Arbitrary bytes decode to a command or a ``CommandError``, never another exception."""
    _expect_decoded_or_refused(data)


@FUZZ
@given(JSON)
def test_decoder_survives_any_json(value: Any) -> None:
    """Any JSON value, object or not, decodes to a command or a ``CommandError``."""
    _expect_decoded_or_refused(orjson.dumps(value))


@pytest.mark.parametrize("kind", COMMAND_TYPES)
def test_every_command_is_fuzzed(kind: str) -> None:
    """Each registered command type has fields the fuzzer can name (a dataclass Command)."""
    cls = COMMANDS[kind]
    assert dataclasses.is_dataclass(cls) and issubclass(cls, protocol.Command)
    assert _fields(cls)[0][0] == "id"


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
    for name, hint in _fields(COMMANDS[kind])[1:]:
        if draw(st.booleans()):
            body[name] = draw(st.one_of(JSON, _plausible(hint)))
    body.update(draw(st.dictionaries(st.text(max_size=8), SCALARS, max_size=2)))
    body["type"] = kind
    return kind, body


@FUZZ
@given(command_bodies())
def test_every_command_validates_its_fields(drawn: tuple[str, dict[str, Any]]) -> None:
    """Every registered command either refuses a body or yields fields of their declared types."""
    kind, body = drawn
    command = _expect_decoded_or_refused(orjson.dumps(body))
    if command is None:
        return
    assert type(command) is COMMANDS[kind]
    for name, hint in _fields(type(command)):
        value = getattr(command, name)
        assert _conforms(value, hint), f"{kind}.{name} = {value!r} is not {hint}"


@FUZZ
@given(st.sampled_from(COMMAND_TYPES), st.text(min_size=1, max_size=64))
def test_every_command_keeps_its_request_id(kind: str, rid: str) -> None:
    """A refusal of a well-identified command names the request id it answers."""
    try:
        command = protocol.decode(orjson.dumps({"type": kind, "id": rid}), COMMANDS)
    except CommandError as exc:
        assert exc.details.get("id") == rid
    else:
        assert command.id == rid
