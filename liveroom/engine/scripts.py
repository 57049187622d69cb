"""Lua scripts: read from ``lua/*.lua`` once, called by SHA, reloaded on NOSCRIPT."""

from __future__ import annotations

from importlib import resources
from typing import Any


def _lua_dir() -> Any:
    return resources.files("liveroom.engine").joinpath("lua")


def load_source(name: str) -> str:
    """The text of ``lua/<name>.lua`` shipped in the package."""
    return _lua_dir().joinpath(f"{name}.lua").read_text("utf-8")


def script_source(name: str) -> str:
    """What is registered for script ``name``: its family's shared head first, when there is
    one (``bag_lib.lua`` before every ``bag_*.lua``, ``packet_lib.lua`` before ``packet_*``),
    then its own file. Lua scripts cannot include each other; this is how they share code."""
    lib = name.partition("_")[0] + "_lib"
    shipped = _lua_dir().joinpath(f"{lib}.lua").is_file()
    if lib == name or not shipped:
        return load_source(name)
    return load_source(lib) + "\n" + load_source(name)


class Scripts:
    """Holds one registered script per ``.lua`` file; ``await scripts.run(name, keys, args)``.

    redis-py's ``AsyncScript`` computes the SHA once, uses EVALSHA, and loads the script again
    when Redis answers NOSCRIPT (after a restart or ``SCRIPT FLUSH``).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._scripts: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._client.register_script(script_source(name))
            self._scripts[name] = script
        return script

    async def run(self, name: str, keys: list[Any], args: list[Any]) -> Any:
        script = self.get(name)
        try:
            return await script(keys=keys, args=args)
        except AttributeError as exc:
            # redis-py 8's cluster client can, under load, hand a command a connection that
            # another task has just disconnected: it fails writing ("'NoneType' object has no
            # attribute 'writelines'") before a byte is sent, so sending again is safe.
            if "writelines" not in str(exc):
                raise
            return await script(keys=keys, args=args)
