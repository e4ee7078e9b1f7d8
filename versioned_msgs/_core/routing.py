"""The route decision: how a reader treats a payload written at some version.

One pure function, :func:`route`, answers it for every reader: the consumer (per handler),
:meth:`Registry.decode <versioned_msgs.Registry.decode>`, ``versioned-msgs inspect`` and
``versioned-msgs upgrade-s3``. What each does with the answer (run a policy, raise, print,
leave an object alone) is theirs; the decision is made here only.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Route", "route"]

#: ``"as-is"`` written at the reader's version; ``"upgrade"`` older: run the upgraders;
#: ``"tolerate"`` newer, but its ``readable_by`` lets the reader's model read it as-is;
#: ``"newer"`` newer and not readable; ``"unknown"`` the reader has no model for the type.
Route = Literal["as-is", "upgrade", "tolerate", "newer", "unknown"]


def route(written: int, readable_by: int | None, reader: int | None) -> Route:
    """How a reader whose model is at version ``reader`` (None: it has none for the type)
    treats a payload written at ``written`` that declares ``readable_by``."""
    if reader is None:
        return "unknown"
    if written == reader:
        return "as-is"
    if written < reader:
        return "upgrade"
    if readable_by is not None and readable_by <= reader:
        return "tolerate"
    return "newer"
