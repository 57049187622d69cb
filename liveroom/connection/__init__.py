"""One WebSocket connection, from its upgrade to its end.

* ``handshake``: ``/ws``; ``admit`` lets a connection into its room or refuses it;
* ``session``: an admitted connection's commands: inbox, rate limit, dispatch, replies;
* ``expiry``: token expiry for every session of a node;
* ``connection``: ``Connection``, the facade of one connection under ``liveroom serve``, with
  the rules for a Close that waits for replies and for a drain;
* ``asgi``: ``AsgiConnection``, the portable path through Starlette's ``WebSocket``;
* ``uvicorn_adapter``: every uvicorn detail, and nothing else; imported by uvicorn only, from the
  options ``liveroom serve`` gives it, so an app mounted elsewhere never loads it.

A connection's writes straight to ``send(2)`` are ``liveroom.direct_out``, beside the fan-out
that owns its slot. Nothing is imported here: each module is imported where it is used.
"""
