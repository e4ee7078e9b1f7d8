"""``python -m versioned_msgs``: the ``versioned-msgs`` command line."""

import os
import sys

# ``python -m`` puts the current directory first on sys.path (the console script does not):
# take it off, so a file there named like a package imported later (boto3.py) is not
# imported in its place. MODULE:ATTR still loads from the current directory.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from ._cli.main import main

raise SystemExit(main())
