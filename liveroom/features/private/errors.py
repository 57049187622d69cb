"""The error codes only private traffic answers with (``docs/private-traffic.md``,
``docs/protocol.md``). It also answers with the core's ``bad_request`` and ``unavailable``."""

from __future__ import annotations

from liveroom.errors import Code


class PrivateCode(Code):
    """Refusals of a follow, a card or a booking."""

    #: an anonymous viewer has no lasting id to follow or book with: sign in
    LOGIN_REQUIRED = "login_required", 403
    #: the room's ``host`` setting is not an id a host can be followed by
    BAD_HOST = "bad_host", 409
    #: a card without a message, or with a link or image that is not an http(s) URL
    BAD_CARD = "bad_card", 400
    #: the room has no upcoming live to book (none scheduled: an unknown room)
    NOT_SCHEDULED = "not_scheduled", 404
    #: the room is live now: booking is for a live still to come
    ROOM_LIVE = "room_live", 409
    #: the scheduled live has started and is over; wait for the next one to be scheduled
    ROOM_ENDED = "room_ended", 409
    #: the last round's bookings are still being announced: schedule again in a moment
    BOOKING_BUSY = "booking_busy", 409, True
