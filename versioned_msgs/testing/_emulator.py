"""An embedded AWS emulator: a moto server on loopback, for tests and ``versioned-msgs demo``.

moto is a test/demo dependency only; it is imported when an emulator starts.
"""

from __future__ import annotations

import json
import urllib.request
from types import TracebackType
from typing import Any

__all__ = ["Emulator"]

DEFAULT_REGION = "us-east-1"


class Emulator:
    """A moto server on 127.0.0.1 at a free port, with boto3 clients pointed at it.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. :meth:`reset` empties
    every service (``POST /moto-api/reset``).
    """

    def __init__(self, *, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> Emulator:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every resource in every emulated service."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and our lazy clients) at the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(self, service: str, **kwargs: Any) -> Any:
        """A real boto3 client for ``service`` reaching the emulator."""
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            **kwargs,
        )

    def state(self, path: str) -> Any:
        """GET a moto-api JSON document (for debugging)."""
        with urllib.request.urlopen(f"{self.endpoint_url}{path}", timeout=30) as resp:
            return json.loads(resp.read())
