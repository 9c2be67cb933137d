"""Several processes opening a brand-new SQLite file at once all get a WAL-mode connection.

Switching to WAL needs an exclusive lock, and SQLite answers "database is locked" at once (no busy
timeout) when another connection holds the file: seen on CI when four processes migrated a fresh
database together. ``db._enable_wal`` retries.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

_OPENER = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import text
    from swen.store.db import make_engine
    url, start_at = sys.argv[1], float(sys.argv[2])
    engine = make_engine(url)
    while time.time() < start_at:
        pass
    with engine.connect() as conn:
        print(conn.execute(text("PRAGMA journal_mode")).scalar())
    """
)


def test_processes_opening_a_fresh_file_together_all_get_wal(tmp_path: Path) -> None:
    src = str(Path(__file__).resolve().parents[3] / "src")
    for attempt in range(6):
        url = f"sqlite:///{tmp_path / f'fresh-{attempt}.db'}"
        start_at = time.time() + 1.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPENER, url, str(start_at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
            )
            for _ in range(6)
        ]
        results = [p.communicate(timeout=60) for p in procs]
        errors = [err for _out, err in results if err.strip()]
        assert not errors, errors[0][-400:]
        assert [out.strip() for out, _err in results] == ["wal"] * 6
