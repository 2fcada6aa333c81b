"""Allow ``python -m vrm``."""

from vrm.cli import main

raise SystemExit(main())
