"""A viewer namespace and the work it must not disturb never overlap (``loadtest.netns.LOCK``)."""

from __future__ import annotations

import fcntl
import os

import pytest

from loadtest import netns


def _free(kind: int) -> bool:
    """Whether ``LOCK`` could be taken as ``kind`` right now (tried without waiting)."""
    fd = os.open(netns.LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_steady_network_and_a_namespace_exclude_each_other() -> None:
    """While a namespace holds the lock (as ``ViewerNamespace.open`` takes it), nobody gets
    ``network_steady``; inside ``network_steady``, no namespace can be made, while another
    steady holder still can come in."""
    held = netns._hold(fcntl.LOCK_EX)
    try:
        assert not _free(fcntl.LOCK_SH)
    finally:
        os.close(held)
    with netns.network_steady():
        assert not _free(fcntl.LOCK_EX)
        assert _free(fcntl.LOCK_SH)


@pytest.mark.skipif(bool(netns.missing()), reason=str(netns.missing()))
def test_a_namespace_holds_the_lock_from_open_to_close() -> None:
    """From ``open`` to ``close`` a namespace holds the lock: no steady holder gets in."""
    with netns.ViewerNamespace() as ns:
        assert ns.created and not _free(fcntl.LOCK_SH)
    # let go at close (another worker's namespace may hold the lock by now: not asked here)
    assert ns._lock is None
