"""`python -m hub` is the `chuong` command."""

from hub.cli import main

raise SystemExit(main())
