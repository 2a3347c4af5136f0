"""Teaching tools that drive running services: `make scenarios` (see scenarios.py)."""
