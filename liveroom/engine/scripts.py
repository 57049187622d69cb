"""Lua scripts: read from ``lua/*.lua`` once, called by SHA, reloaded on NOSCRIPT."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

#: the package whose ``lua/`` folder holds the core's scripts; a feature passes its own
CORE = "liveroom.engine"
#: a line ``-- uses: <lib>`` in a script (or its family's head) puts the core's
#: ``lua/<lib>.lua`` in front of it: ``stream_lib`` (the one way to append to a room's stream or
#: read its epoch), ``coupon_lib`` (the one way to use a coupon or give it back)
USES = re.compile(r"^-- uses: ([a-z_]+_lib)$", re.MULTILINE)


def _lua_dir(package: str = CORE) -> Any:
    return resources.files(package).joinpath("lua")


def load_source(name: str, package: str = CORE) -> str:
    """The text of ``lua/<name>.lua`` shipped in ``package``."""
    return _lua_dir(package).joinpath(f"{name}.lua").read_text("utf-8")


#: the core's head every script gets first: ``outbox(key, type, data)`` (docs/events.md)
OUTBOX_LIB = "outbox_lib"


def script_source(name: str, package: str = CORE) -> str:
    """What is registered for script ``name``, in this order: the outbox head
    (``outbox_lib.lua``, shared by every script); each core library the script or its family's
    head names in a ``-- uses: <lib>`` line (``USES``), in the order named; its family's shared
    head, when there is one (``bag_lib.lua`` before every ``bag_*.lua``, ``packet_lib.lua``
    before ``packet_*``); then its own file. Lua scripts cannot include each other; this is how
    they share code."""
    lib = name.partition("_")[0] + "_lib"
    shipped = _lua_dir(package).joinpath(f"{lib}.lua").is_file()
    if lib == name or not shipped:
        source = load_source(name, package)
    else:
        source = load_source(lib, package) + "\n" + load_source(name, package)
    libs = [load_source(used) for used in dict.fromkeys(USES.findall(source))]
    return load_source(OUTBOX_LIB) + "\n" + "\n".join([*libs, source])


class Scripts:
    """Holds one registered script per ``.lua`` file; ``await scripts.run(name, keys, args)``,
    with ``package=__package__`` for a feature's own ``lua/`` folder.

    redis-py's ``AsyncScript`` computes the SHA once, uses EVALSHA, and loads the script again
    when Redis answers NOSCRIPT (after a restart or ``SCRIPT FLUSH``).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._scripts: dict[tuple[str, str], Any] = {}

    def get(self, name: str, package: str = CORE) -> Any:
        script = self._scripts.get((package, name))
        if script is None:
            script = self._client.register_script(script_source(name, package))
            self._scripts[(package, name)] = script
        return script

    async def run(self, name: str, keys: list[Any], args: list[Any], package: str = CORE) -> Any:
        script = self.get(name, package)
        try:
            return await script(keys=keys, args=args)
        except AttributeError as exc:
            # redis-py 8's cluster client can, under load, hand a command a connection that
            # another task has just disconnected: it fails writing ("'NoneType' object has no
            # attribute 'writelines'") before a byte is sent, so sending again is safe.
            if "writelines" not in str(exc):
                raise
            return await script(keys=keys, args=args)
