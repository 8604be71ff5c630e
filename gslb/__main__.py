"""Allow ``python -m gslb``."""

from gslb.cli import main

raise SystemExit(main())
