"""The JS client (``clients/js/src/liveroom.js``) knows every close code and the retry policy."""

from __future__ import annotations

import re

from liveroom.errors import CloseCode
from tests.protocol.protocol_doc import DOC, ROOT

CLIENT = (ROOT / "clients" / "js" / "src" / "liveroom.js").read_text("utf-8")
#: codes the client names that the server never sends: the browser reports them itself
CLIENT_ONLY = {"ABNORMAL": 1006}


def _js_close_codes() -> dict[str, int]:
    """The client's ``CloseCode`` object: name -> code."""
    found = re.search(r"export const CloseCode = Object\.freeze\(\{(.*?)\}\);", CLIENT, re.S)
    assert found, "no CloseCode object in liveroom.js"
    return {name: int(code) for name, code in re.findall(r"(\w+):\s*(\d+)", found.group(1))}


def _js_set(name: str) -> set[int]:
    """The codes in one of the client's policy sets (``FATAL``, ``NEEDS_TOKEN``)."""
    found = re.search(rf"export const {name} = (.*?);\n", CLIENT, re.S)
    assert found, f"no {name} set in liveroom.js"
    codes = _js_close_codes()
    members = re.findall(r"CloseCode\.(\w+)|\b(\d{4})\b", found.group(1))
    return {codes[ref] if ref else int(number) for ref, number in members}


def _documented_actions() -> dict[int, str]:
    """The close-code table of docs/protocol.md: code -> what the client should do."""
    section = DOC.split("## Close codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d{4}) \|[^|]*\|[^|]*\| ([^|]*) \|$", section, re.M)
    assert rows, "no rows in the close-code table"
    return {int(code): action for code, action in rows}


def test_client_names_every_close_code_of_the_server() -> None:
    """Each server close code is in the client's ``CloseCode`` under the same name."""
    client = _js_close_codes()
    server = {code.name: int(code) for code in CloseCode}
    missing = {name: code for name, code in server.items() if client.get(name) != code}
    assert not missing, f"close codes missing or different in liveroom.js: {missing}"
    extra = {name: code for name, code in client.items() if name not in server}
    assert extra == CLIENT_ONLY, f"liveroom.js names codes the server does not: {extra}"


def test_client_stops_on_exactly_the_codes_not_to_retry() -> None:
    """``FATAL`` is every close code the docs say not to retry, and no other."""
    expected = {code for code, action in _documented_actions().items() if "do not retry" in action}
    assert expected, "the close-code table says 'do not retry' nowhere"
    assert _js_set("FATAL") == expected


def test_client_refreshes_its_token_on_exactly_the_codes_that_need_one() -> None:
    """``NEEDS_TOKEN`` is every close code the docs answer with 'get a new token'."""
    expected = {code for code, action in _documented_actions().items() if "new token" in action}
    assert expected, "the close-code table asks for a new token nowhere"
    assert _js_set("NEEDS_TOKEN") == expected


def test_close_code_table_covers_the_server() -> None:
    """The table the policy is read from has a row for every server close code."""
    assert set(_documented_actions()) == {int(code) for code in CloseCode}


def test_refusals_that_end_say_when_and_the_client_waits() -> None:
    """1013 (server busy) and 4031 (kicked) tell the client when to come back: their rows name
    ``retry_after``, the client reads it, and neither stops the client for good."""
    actions = _documented_actions()
    for code in (CloseCode.TRY_AGAIN_LATER, CloseCode.KICKED):
        assert "retry_after" in actions[int(code)], actions[int(code)]
        assert int(code) not in _js_set("FATAL")
    assert "export function retryAfterMs" in CLIENT
