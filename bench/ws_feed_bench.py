"""Live feed benchmark: many open /ws connections, the per-connection poller against one poller per process.

Runs the API twice in one run, each as a real `swen api` process on its own fresh database: the
baseline from another checkout (``--baseline-src``, default /work/main/src: before this change, each
connection polled the store every 0.25 s) and this checkout (one poller per process, woken by
PostgreSQL notifications). For each it opens ``--connections`` WebSockets and measures:

- **idle CPU**: the server's CPU seconds per wall second while the connections are open and nothing
  happens (``/proc/<pid>/stat``);
- **delivery**: for ``--events`` events appended to the store 0.3 s apart, the time until every
  connection has received the event (median and p95).

    .venv/bin/python bench/ws_feed_bench.py [--connections 100] [--idle 10] [--events 20] [--pg]

With ``--pg`` (SWEN_TEST_PG_URL) the databases are PostgreSQL, else SQLite files in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import websockets

from pg_database import throwaway_database

SRC = Path(__file__).resolve().parents[1] / "src"
TICKS = os.sysconf("SC_CLK_TCK")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def _database(pg: bool, home: Path) -> Iterator[str]:
    if not pg:
        yield f"sqlite:///{home / 'swen.db'}"
        return
    with throwaway_database() as url:
        yield url


def _swen(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "swen", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"swen {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def _append_events(env: dict[str, str], count: int) -> None:
    """Append ``count`` events 0.3 s apart, from another process (as a simulator would)."""
    script = (
        "import sys, time\n"
        "from swen.config import Settings\n"
        "from swen.domain.events import EventType\n"
        "from swen.store.repository import Store\n"
        "store = Store.open(Settings(), migrate=False)\n"
        f"for i in range({count}):\n"
        "    store.append_event(EventType.ALERT, {'bench': i, 'sent': time.time()})\n"
        "    time.sleep(0.3)\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


async def _measure(
    url: str, key: str, args: argparse.Namespace, pid: int, env: dict[str, str]
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    sockets = [
        await websockets.connect(url + "?types=alert", additional_headers=headers, max_queue=None)
        for _ in range(args.connections)
    ]
    try:
        await asyncio.sleep(1.0)
        cpu0, t0 = _cpu_s(pid), time.monotonic()
        await asyncio.sleep(args.idle)
        idle_cpu = (_cpu_s(pid) - cpu0) / (time.monotonic() - t0)
        received: dict[int, list[float]] = {}

        async def read(ws: websockets.ClientConnection) -> None:
            for _ in range(args.events):
                message = json.loads(await ws.recv())
                received.setdefault(message["payload"]["bench"], []).append(
                    time.time() - message["payload"]["sent"]
                )

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        await asyncio.to_thread(_append_events, env, args.events)
        await asyncio.wait_for(asyncio.gather(*readers), 60)
    finally:
        for ws in sockets:
            await ws.close()
    delivery = sorted(max(v) for v in received.values())
    return {
        "idle_cpu": idle_cpu,
        "p50": statistics.median(delivery),
        "p95": delivery[max(0, int(len(delivery) * 0.95) - 1)],
    }


def run(label: str, src: Path, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, _database(args.pg, Path(tmp)) as url:
        port = _port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWEN_")}
        env.update({"PYTHONPATH": str(src), "SWEN_HOME": tmp, "SWEN_DATABASE_URL": url,
                    "SWEN_API_PORT": str(port), "SWEN_RATE_LIMIT_PER_MINUTE": "1000000"})  # fmt: skip
        server = subprocess.Popen([sys.executable, "-m", "swen", "api"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{label}: the API did not start")
                time.sleep(0.2)
            out = _swen(env, "keys", "create", "--role", "viewer", "--name", "bench")
            key = re.search(r"swen_[A-Za-z0-9_-]+", out)
            if key is None:
                raise SystemExit(f"no key in: {out}")
            result = asyncio.run(_measure(f"ws://127.0.0.1:{port}/ws", key.group(0), args, server.pid, env))
        finally:
            server.terminate()
            server.wait(timeout=60)
    p50, p95 = result["p50"] * 1000, result["p95"] * 1000
    print(f"{label:>9}: idle CPU {result['idle_cpu'] * 100:5.1f} % of a core; delivery to all "
          f"{args.connections}: p50 {p50:6.1f} ms, p95 {p95:6.1f} ms")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (SWEN_TEST_PG_URL) instead of SQLite")
    parser.add_argument("--baseline-src", type=Path, default=Path("/work/main/src"))
    args = parser.parse_args()
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(f"/ws feed, {args.connections} connections, {backend}")
    before = run("baseline", args.baseline_src, args)
    after = run("this", SRC, args)
    cpu = after["idle_cpu"] / before["idle_cpu"] if before["idle_cpu"] else float("nan")
    print(f"ratio this/baseline: idle CPU {cpu:.2f}, delivery p50 {after['p50'] / before['p50']:.2f}, "
          f"p95 {after['p95'] / before['p95']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
