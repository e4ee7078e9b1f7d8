"""``Meta``: what a consumer knows about one decoded message besides its payload."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Meta"]


class Meta(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Facts about one message, handed to handlers beside the model instance.

    ``version`` is the version as written by the producer; ``model_version`` the version of
    the model the payload was decoded into; ``upgraded_from`` equals ``version`` when the
    payload went through upgraders, else ``None``. ``source`` is one of ``"sqs" "sns" "s3"
    "kinesis" "eventbridge"`` (``None`` for :meth:`Registry.decode` outside a consumer).
    ``attributes`` are the user's own message attributes (``vmsg-*`` removed), as plain
    str/number values. ``record`` is the raw Lambda record.
    """

    type: str
    version: int
    model_version: int = 0
    upgraded_from: int | None = None
    readable_by: int | None = None
    producer: str | None = None
    content_type: str = "application/json"
    source: str | None = None
    message_id: str | None = None
    attributes: dict[str, Any] = {}
    group_id: str | None = None
    bucket: str | None = None
    key: str | None = None
    record: Any = None

    @property
    def tolerated(self) -> bool:
        """True when the payload was newer than the model and read thanks to ``readable_by``."""
        rb = self.readable_by
        return self.version > self.model_version and rb is not None and rb <= self.model_version
