"""Every script's ``-- retry:`` header, and the forms ``Scripts`` registers for it, load in
Redis (``scripts.py``: a ``lookup`` script gets a first form and a retry variant)."""

from __future__ import annotations

from importlib import resources

import pytest
import redis

from liveroom.engine.scripts import CORE, FIRST_HEAD, RETRY_HEAD, RETRY_MODE, script_source
from tests.redis_servers import no_redis, reachable

FEATURES = [
    "liveroom.features." + p.name
    for p in resources.files("liveroom.features").iterdir()
    if p.joinpath("lua").is_dir()
]


def every_script() -> list[tuple[str, str]]:
    out = []
    for package in [CORE, *FEATURES]:
        for path in resources.files(package).joinpath("lua").iterdir():
            name = path.name.removesuffix(".lua")
            if path.name.endswith(".lua") and not name.endswith("_lib"):
                out.append((package, name))
    return sorted(out)


@pytest.mark.parametrize(("package", "name"), every_script())
def test_every_form_of_a_script_loads(package: str, name: str, redis_url: str) -> None:
    """The script's forms compile in Redis, and a ``-- retry:`` line, if any, names a mode."""
    if not reachable(redis_url):
        no_redis(redis_url)
    source = script_source(name, package)
    modes = RETRY_MODE.findall(source)
    assert modes in ([], ["safe"], ["lookup"]), modes
    forms = [FIRST_HEAD + source, RETRY_HEAD + source] if modes == ["lookup"] else [source]
    client = redis.Redis.from_url(redis_url)
    try:
        for form in forms:
            client.script_load(form)
    finally:
        client.close()


def test_the_scripts_that_publish_look_up_their_first_attempt() -> None:
    """``publish.lua`` (the room events) is sent again only as a lookup."""
    assert RETRY_MODE.findall(script_source("publish")) == ["lookup"]
