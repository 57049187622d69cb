"""Readers for the deployment files: the Dockerfile, the compose file and the nginx config."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int

    def exec_form(self) -> list[str]:
        """The arguments of an exec-form instruction (a JSON array), else split like a shell."""
        text = self.args.strip()
        if text.startswith("["):
            value = json.loads(text)
            assert isinstance(value, list)
            return [str(v) for v in value]
        return shlex.split(text)


def dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    """The instructions, continuation lines joined and comments dropped, each with its stage."""
    joined: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    out = []
    stage = -1
    for line in joined:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, args.strip(), stage))
    return out


def env_of(instructions: list[Instruction], stage: int) -> dict[str, str]:
    """The ``ENV`` values set in one stage (``KEY=value`` pairs, shell-quoted)."""
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ENV" and ins.stage == stage:
            for pair in shlex.split(ins.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def compose(path: Path = COMPOSE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, given: dict[str, str] | None = None) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``, with ``given`` set."""
    given = given or {}

    def sub(m: re.Match[str]) -> str:
        name, op, rest = m.group(1), m.group(2), m.group(3)
        if name in given:
            return given[name]
        if op in (":-", "-"):
            return rest
        return f"placeholder-for-{name.lower()}-0123456789"

    return _INTERPOLATION.sub(sub, value)


def nginx_upstream_servers(path: Path = NGINX_CONF) -> list[tuple[str, int]]:
    """``(host, port)`` of each ``server`` line in the ``upstream liveroom`` block."""
    text = path.read_text()
    block = re.search(r"upstream\s+liveroom\s*{(.*?)}", text, re.S)
    assert block, "deploy/nginx.conf has no `upstream liveroom` block"
    servers = re.findall(r"^\s*server\s+([^\s:;]+):(\d+)", block.group(1), re.M)
    return [(host, int(port)) for host, port in servers]


def nginx_location(path: Path, location: str) -> str:
    """The body of ``location <location> { ... }`` (no nested blocks expected)."""
    text = path.read_text()
    m = re.search(r"location\s+(?:=\s*)?" + re.escape(location) + r"\s*{(.*?)}", text, re.S)
    assert m, f"no location {location} in {path}"
    return m.group(1)
