"""``text_key``: the digest a comment's dedupe check remembers, the same on every node."""

from __future__ import annotations

import os
import subprocess
import sys

from liveroom.features.comments.chat import text_key


def test_the_key_is_the_texts_crc32_in_eight_hex_digits() -> None:
    # the standard CRC-32 check value, and a text that is not ASCII (encoded as UTF-8)
    assert text_key("123456789") == "cbf43926"
    assert text_key("hello") == "3610a686"
    assert len(text_key("这个颜色有没有大码？")) == 8


def test_a_sample_of_comments_gets_distinct_keys() -> None:
    """A pin, not a proof: 32-bit keys collide by chance (one pair in four billion), but not
    among these texts, the ingest bench's kinds of comment."""
    texts = [f"{n}号想要" for n in range(20_000)] + [
        f"这个颜色有没有大码？{n}" for n in range(20_000)
    ]
    assert len({text_key(text) for text in texts}) == len(texts)


def test_the_key_does_not_depend_on_the_process() -> None:
    """Two nodes must agree: no per-process salt (``hash``) in it."""
    probe = "from liveroom.features.comments.chat import text_key; print(text_key('同一句话'))"
    keys = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        keys.add(out.stdout.strip())
    assert keys == {text_key("同一句话")}
