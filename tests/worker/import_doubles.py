"""Only for tests/worker/test_worker_config.py, which imports `make_ref` from here: the activity
doubles live in tests/support/imports.py."""

from __future__ import annotations

from tests.support.imports import make_ref

__all__ = ["make_ref"]
