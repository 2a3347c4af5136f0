"""`python -m devpki ...` (the Makefile's certs, inspect, renew and revoke targets)."""

from devpki.cli import main

raise SystemExit(main())
