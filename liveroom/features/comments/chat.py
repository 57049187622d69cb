"""Posting into a room: limits, sensitive words, dedupe, mutes, system messages."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from liveroom.auth import Identity
from liveroom.engine.base import CommentRules, Posted
from liveroom.errors import CommandError, EngineUnavailable, ErrorCode
from liveroom.features.comments.errors import CommentCode
from liveroom.features.comments.store import CommentStore
from liveroom.protocol import event, offset_of, room_event_body

DEDUPE_USERS = 50_000  # most recent senders remembered per node for flood dedupe


@dataclass(frozen=True, slots=True)
class CommentOutcome:
    """``offset`` when broadcast; ``echo`` is a private copy for the sender when not."""

    offset: int
    shed: bool = False
    hidden: bool = False
    masked: bool = False
    echo: bytes | None = None


class Chat:
    """Posting comments and system messages into rooms, and muting. One per node.

    ``now`` is the wall clock (seconds since the epoch) that stamps events and mutes; the
    dedupe window runs on the monotonic clock.
    """

    def __init__(
        self, engine: CommentStore, settings: Any, now: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now
        self._recent: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._patterns: dict[tuple[str, ...], re.Pattern[str] | None] = {}
        self._ruled: dict[tuple[int, bool], CommentRules] = {}

    async def post(
        self, room: str, who: Identity, text: str, info: dict[str, Any]
    ) -> CommentOutcome:
        """Check and publish one comment. Raises ``CommandError`` when refused."""
        text = text.strip()
        if not text:
            raise CommandError(CommentCode.EMPTY, "comment is empty")
        if len(text) > self.settings.comment_max_len:
            raise CommandError(
                ErrorCode.TOO_LONG,
                f"comments are at most {self.settings.comment_max_len} characters",
            )
        self._dedupe(room, who.user, text)
        said = text
        masked = hidden = False
        pattern = self._pattern(info.get("sensitive_words") or ())
        if pattern is not None and pattern.search(text):
            if info.get("sensitive_mode") == "self":
                hidden = True
            else:
                text = pattern.sub(lambda m: "*" * len(m.group(0)), text)
                masked = True
        fields: dict[str, Any] = {"ts": self.now(), "user": who.public(), "text": text}
        if masked:
            fields["masked"] = True
        if hidden:
            echo = event("comment", **fields, self=True, hidden=True)
            return CommentOutcome(0, hidden=True, echo=echo)
        rules = self._rules(int(info.get("comment_cap", self.settings.room_comment_cap)), who)
        try:
            result = await self.engine.post_comment(
                room, who.user, room_event_body("comment", **fields), rules
            )
        except EngineUnavailable:
            # not posted: the user's retry of the same text must not be refused as a duplicate
            if self._recent.get((room, who.user), ("",))[0] == said:
                del self._recent[(room, who.user)]
            raise
        if result.status is Posted.MUTED:
            raise CommandError(CommentCode.MUTED, "you are muted in this room")
        if result.status is Posted.RATE_LIMITED:
            raise CommandError(ErrorCode.RATE_LIMITED, "too many comments; slow down")
        if result.status is Posted.SHED:
            echo = event("comment", **fields, self=True, shed=True)
            return CommentOutcome(0, shed=True, echo=echo)
        return CommentOutcome(result.offset, masked=masked)

    def _rules(self, cap: int, who: Identity) -> CommentRules:
        """The limits of one comment: a room's cap, and whether its author is a host. Made
        once per (cap, priority), not per comment."""
        key = (cap, who.may("host"))
        rules = self._ruled.get(key)
        if rules is None:
            if len(self._ruled) > 1000:
                self._ruled.clear()
            rules = self._ruled[key] = CommentRules(
                user_limit=self.settings.user_comment_limit,
                user_window_s=self.settings.user_comment_window_s,
                room_cap=cap,
                priority=key[1],
            )
        return rules

    def _dedupe(self, room: str, user: str, text: str) -> None:
        key = (room, user)
        now = time.monotonic()
        last = self._recent.get(key)
        if last is not None and last[0] == text and now - last[1] < self.settings.dedupe_window_s:
            raise CommandError(CommentCode.DUPLICATE, "same comment again too soon")
        self._recent[key] = (text, now)
        self._recent.move_to_end(key)
        while len(self._recent) > DEDUPE_USERS:
            self._recent.popitem(last=False)

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
        if not text:
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
