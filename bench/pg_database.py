"""A throwaway PostgreSQL database for a benchmark run (shared by the bench/*_bench.py scripts).

The benches run as ``python bench/NAME_bench.py``, so this directory is on ``sys.path`` and they import
it as ``from pg_database import throwaway_database``."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def throwaway_database(prefix: str = "swen_bench", admin: str | None = None) -> Iterator[str]:
    """A new, empty database on ``admin``'s server (default: the test server, ``SWEN_TEST_PG_URL``, set
    by ``source scripts/test-services.sh``), dropped afterwards with its sessions ended; yields its URL."""
    import psycopg

    admin = admin or os.environ.get("SWEN_TEST_PG_URL")
    if not admin:
        sys.exit(
            "this bench needs PostgreSQL: run `source scripts/test-services.sh` first (SWEN_TEST_PG_URL)"
        )
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # FORCE ends its sessions
