"""Posting into a room: limits, sensitive words, dedupe, mutes, system messages."""

from __future__ import annotations

import re
import time
import unicodedata
import zlib
from collections.abc import Callable
from typing import Any

from liveroom.auth import Identity
from liveroom.engine.base import POSTED, CommentRules, Posted
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.comments.errors import CommentCode
from liveroom.features.comments.store import CommentStore
from liveroom.protocol import event, offset_of, room_event_body

#: Unicode categories that draw nothing: format characters (zero-width space and joiners,
#: direction marks, the soft hyphen, U+FEFF, tags), controls, separators and spaces. Not
#: unassigned code points: an emoji newer than Python's Unicode tables is one of those.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp", "Cs"})
#: characters of other categories that draw nothing: variation selectors, the combining
#: grapheme joiner, Hangul fillers, the braille blank
INVISIBLE_CHARS = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)]
    + [chr(c) for c in range(0xE0100, 0xE01F0)]
    + ["\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"]
)


def blank(text: str) -> bool:
    """Whether ``text`` shows nothing: empty, or only invisible characters. Stops at the first
    visible character, which is almost always the first one."""
    for char in text:
        if char not in INVISIBLE_CHARS and unicodedata.category(char) not in INVISIBLE_CATEGORIES:
            return False
    return True


def text_key(text: str) -> str:
    """A short digest of a comment's text: the engine remembers it, not the text, for dedupe.

    CRC-32, as 8 hex digits: the same on every node, and about half what an 8-byte blake2b
    cost a comment (2,600 instructions against 5,500 with the call). It only has to tell one
    user's comments within ``dedupe_window_s`` apart: two different ones that collide (about
    one pair in four billion) make the second a ``duplicate``, refused to that user alone.
    (Releases before it used blake2b: while nodes of both run, a repeat that goes to one of
    each within the window is not caught.)"""
    return f"{zlib.crc32(text.encode()):08x}"


#: what ``Chat.post`` answers, in this order:
#: - the reply's fields: ``offset`` (0 when the room did not get it), and ``shed`` or
#:   ``hidden`` when so, or ``masked`` for a posted comment whose words were masked;
#: - the private copy for the sender when the room did not get it (shed or hidden), else None;
#: - ``after``, the room's offset the comment follows (every event up to it came before it in
#:   the room's order), for the features matching keywords (``NodeContext.comment_posted``);
#:   None for a hidden comment, which is in no room's order.
#: A tuple, not a dataclass: one is made per comment, and a dataclass of six fields cost about
#: 2,200 instructions to make (pyenv's CPython 3.11.7), a tuple a few dozen.
CommentOutcome = tuple[dict[str, Any], bytes | None, int | None]


class Chat:
    """Posting comments and system messages into rooms, and muting. One per node.

    ``now`` is the wall clock (seconds since the epoch) that stamps events and mutes.
    """

    def __init__(
        self, engine: CommentStore, settings: Any, now: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now
        self._patterns: dict[tuple[str, ...], re.Pattern[str] | None] = {}
        #: by room cap, the rules of a comment that is neither staff's nor hidden; shared by
        #: every such comment, so never changed (settings do not change while the node runs)
        self._viewer_rules: dict[int, CommentRules] = {}

    async def post(
        self, room: str, who: Identity, text: str, info: dict[str, Any]
    ) -> CommentOutcome:
        """Check and publish one comment: its reply's fields, the sender's private copy and
        the offset it follows (``CommentOutcome``). Raises ``CommandError`` when refused.

        Length and visibility are checked here; the mute, the duplicate check (the same text
        from the same user within ``dedupe_window_s``, on any node), the user's rate and the
        room's cap are checked by the engine in one step with the publish, in that order, for
        a hidden comment (a sensitive word in a ``self`` room) too. Only a comment answered
        ``ok`` (posted, shed or hidden) is remembered as said.
        """
        text = text.strip()
        if blank(text):
            raise CommandError(CommentCode.EMPTY, "comment is empty")
        if len(text) > self.settings.comment_max_len:
            raise CommandError(
                ErrorCode.TOO_LONG,
                f"comments are at most {self.settings.comment_max_len} characters",
            )
        key = text_key(text)
        masked = hidden = False
        words = info.get("sensitive_words")
        pattern = self._pattern(words) if words else None
        if pattern is not None and pattern.search(text):
            if info.get("sensitive_mode") == "self":
                hidden = True
            else:
                text = pattern.sub(lambda m: "*" * len(m.group(0)), text)
                masked = True
        fields: dict[str, Any] = {"ts": self.now(), "user": who.public(), "text": text}
        if masked:
            fields["masked"] = True
        cap = int(info.get("comment_cap", self.settings.room_comment_cap))
        if who.staff or hidden:
            rules = self._rules(cap, who.staff, hidden)
        else:  # a viewer's comment: its room cap's shared rules (a dataclass of six fields
            # costs about 2,400 instructions to make)
            rules = self._viewer_rules.get(cap) or self._keep_viewer_rules(cap)
        result = await self.engine.post_comment(
            room, who.user, room_event_body("comment", fields), rules, key
        )
        status = result.status
        if status is POSTED:
            offset = result.offset
            reply = {"offset": offset, "masked": True} if masked else {"offset": offset}
            return reply, None, offset - 1
        if status is Posted.MUTED:
            raise CommandError(CommentCode.MUTED, "you are muted in this room")
        if status is Posted.DUPLICATE:
            raise CommandError(CommentCode.DUPLICATE, "same comment again too soon")
        if status is Posted.RATE_LIMITED:
            raise CommandError(ErrorCode.RATE_LIMITED, "too many comments; slow down")
        if status is Posted.HIDDEN:
            echo = event("comment", **fields, self=True, hidden=True)
            return {"offset": 0, "hidden": True}, echo, None
        if status is Posted.SHED:
            echo = event("comment", **fields, self=True, shed=True)
            return {"offset": 0, "shed": True}, echo, result.head
        raise AssertionError(f"post_comment answered {status!r}")

    def _rules(self, cap: int, staff: bool, hidden: bool) -> CommentRules:
        settings = self.settings
        # positional arguments: keywords are packed into a dict first
        return CommentRules(
            settings.user_comment_limit,  # user_limit
            settings.user_comment_window_s,  # user_window_s
            cap,  # room_cap
            staff,  # priority
            settings.dedupe_window_s,  # dedupe_window_s
            hidden,
        )

    def _keep_viewer_rules(self, cap: int) -> CommentRules:
        if len(self._viewer_rules) > 1000:  # rooms' own caps: a few values, unless abused
            self._viewer_rules.clear()
        rules = self._viewer_rules[cap] = self._rules(cap, False, False)
        return rules

    def _pattern(self, words: Any) -> re.Pattern[str] | None:
        key = tuple(words)
        if key not in self._patterns:
            if len(self._patterns) > 1000:
                self._patterns.clear()
            self._patterns[key] = (
                re.compile(
                    "|".join(re.escape(w) for w in sorted(key, key=len, reverse=True)),
                    re.IGNORECASE,
                )
                if key
                else None
            )
        return self._patterns[key]

    async def system(self, room: str, text: str, who: Identity) -> int:
        """A system message from the host; never shed."""
        text = text.strip()
        if blank(text):
            raise CommandError(CommentCode.EMPTY, "message is empty")
        if len(text) > 500:
            raise CommandError(ErrorCode.TOO_LONG, "system messages are at most 500 characters")
        payload = await self.engine.publish(
            room, room_event_body("system", ts=self.now(), text=text, by=who.public())
        )
        return offset_of(payload)

    async def mute(self, room: str, user: str, seconds: int) -> float:
        """Mute ``user`` in ``room`` for ``seconds``; when the mute ends (epoch seconds)."""
        until = self.now() + seconds
        await self.engine.mute(room, user, until)
        return until

    async def unmute(self, room: str, user: str) -> None:
        await self.engine.unmute(room, user)

    async def count_shed(self, room: str) -> None:
        """Count a shed comment in the room's ``shed`` counter (the host console shows it)."""
        await self.engine.incr(room, "shed")

    async def muted(self, room: str) -> dict[str, float]:
        """The room's muted users, each with when their mute ends (epoch seconds)."""
        return await self.engine.muted(room)
