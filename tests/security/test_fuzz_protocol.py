"""Hypothesis against the protocol decoder and every command's validation.

Every feature's commands are fuzzed (``tests.security.strategies`` takes a node's command
table): a feature's new command is fuzzed here without anyone adding it to a list.
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
from liveroom.errors import Code, CommandError
from tests.security.strategies import COMMAND_TYPES, COMMANDS, JSON, command_bodies, fields_of

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
    rid = command.id
    if isinstance(rid, str):
        assert 0 < len(rid) <= protocol.MAX_REQUEST_ID
    else:  # an integer id, kept as the integer it was
        assert type(rid) is int and abs(rid) <= protocol.MAX_INT_REQUEST_ID
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
    assert fields_of(cls)[0][0] == "id"


@FUZZ
@given(command_bodies())
def test_every_command_validates_itsfields_of(drawn: tuple[str, dict[str, Any]]) -> None:
    """Every registered command either refuses a body or yields fields of their declared types."""
    kind, body = drawn
    command = _expect_decoded_or_refused(orjson.dumps(body))
    if command is None:
        return
    assert type(command) is COMMANDS[kind]
    for name, hint in fields_of(type(command)):
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
