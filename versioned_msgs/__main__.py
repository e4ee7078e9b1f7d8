"""``python -m versioned_msgs``: the ``versioned-msgs`` command line."""

from ._cli.main import main

raise SystemExit(main())
