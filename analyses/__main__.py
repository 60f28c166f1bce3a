"""``python -m analyses``: see :mod:`analyses.runner`."""

from analyses.runner import main

raise SystemExit(main())
