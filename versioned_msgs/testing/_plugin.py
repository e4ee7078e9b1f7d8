"""pytest plugin (entry point ``pytest11``): an AWS emulator on loopback for your tests.

Fixtures:

``moto_server``
    session-scoped :class:`~versioned_msgs.testing.Emulator` (a moto server on 127.0.0.1 at a
    free port), started on first use.
``aws``
    the same emulator, reset before the test, with ``AWS_ENDPOINT_URL`` and fake credentials
    in the environment so clients the library makes lazily reach it too. ``aws.client("sqs")``
    hands out real boto3 clients.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._emulator import Emulator


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Emulator]:
    """A moto server on loopback shared by the whole session."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def aws(moto_server: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The session's moto server, emptied, with the environment pointing boto3 at it."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server
