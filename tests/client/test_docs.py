"""The example in docs/client-python.md runs as printed, against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.servers import API_KEY, SECRET, ServerProcess
from tests.timeouts import scaled

DOC = Path(__file__).parents[2] / "docs" / "client-python.md"


def test_doc_example_runs(server: ServerProcess) -> None:
    """The backend example sells, confirms, is refused past the limit and audits ok."""
    found = re.search(r"runs as it is:\n\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, "the example's code block moved: update this test"
    env = dict(os.environ, LIVEROOM_URL=server.url, LIVEROOM_SECRET=SECRET)
    env["LIVEROOM_API_KEY"] = API_KEY
    run = subprocess.run(
        [sys.executable, "-c", found.group(1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert run.returncode == 0, run.stderr
    assert "order paid stock left 98" in run.stdout
    assert "refused: limit_reached" in run.stdout
    assert "audit ok: True" in run.stdout
