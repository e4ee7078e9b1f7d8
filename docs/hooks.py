"""mkdocs hook: render the package's reST cross-reference roles as plain code.

Docstrings say ``:class:`~versioned_msgs.Encoded``` (for readers of the source and for
``help()``); mkdocstrings renders that as ``:class:<code>~versioned_msgs.Encoded</code>``.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|mod|attr|exc|data|obj|const):(?=<code>)")
_TILDE = re.compile(r"<code>~(?:[A-Za-z_][\w]*\.)*([A-Za-z_][\w]*)</code>")


def on_page_content(html: str, **kwargs: Any) -> str:
    return _TILDE.sub(r"<code>\1</code>", _ROLE.sub("", html))
