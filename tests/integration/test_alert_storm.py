"""An alert storm next to the simulator, on SQLite, with real processes (the red-team finding).

Three concurrent ``POST /alerts`` of 5,000 alerts each to a real ``swen api`` process, while a real
``swen simulate`` process writes a telemetry cycle every second into the same SQLite file. Before the
intake was batched, each post held ONE write transaction for 11 s or more, longer than SQLite's 10 s
busy timeout: two posts got 503 and the simulator died with "database is locked". Now every post is
accepted in full and the simulator keeps writing through the storm.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from support.alertmanager import alert, payload
from support.builders import T0
from swen.config import Settings
from swen.demo.harness import running_api
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store

POSTS, ALERTS = 3, 5000


def _storm(post: int, services: list[str]) -> dict[str, object]:
    return payload(
        [
            alert(
                service=services[i % len(services)],
                starts_at=T0 + timedelta(seconds=i),
                instance=f"storm-{post}-{i}",
            )
            for i in range(ALERTS)
        ]
    )


def _last_cycle(store: Store, after: int = 0) -> int:
    """Id of the newest telemetry-cycle event after ``after`` (``after`` when there is none)."""
    while page := store.events_after(after, types=[EventType.TELEMETRY_CYCLE], limit=1000):
        after = page[-1].id
    return after


@pytest.mark.slow
def test_three_concurrent_storms_are_all_accepted_and_the_simulator_survives(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # 5,000 Alertmanager alerts are about 2.9 MB: the API process reads its body limit from the file
    (home / "swen.yaml").write_text("max_body_bytes: 16000000\n")
    settings = Settings(home=home, sim_interval_s=1.0, sim_speed=1.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEN_")}
    env.update(SWEN_HOME=str(settings.home), SWEN_SIM_INTERVAL_S="1", SWEN_SIM_SPEED="1")
    log_path = tmp_path / "simulator.log"
    with log_path.open("wb") as log:
        simulator = subprocess.Popen(
            [sys.executable, "-m", "swen", "simulate"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        store = Store.open(settings)
        deadline = time.monotonic() + 60
        while _last_cycle(store) == 0:
            assert simulator.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the simulator wrote no telemetry within 60 s"
            time.sleep(0.2)
        services = [s.name for s in store.list_services()]
        key = ApiKeyRepository(store).create("alertmanager", Role.OPERATOR)[1]
        bodies = [_storm(post, services) for post in range(POSTS)]
        with running_api(settings) as api:
            before = _last_cycle(store)

            def post(body: dict[str, object]) -> httpx.Response:
                return httpx.post(
                    f"{api.api_url}/alerts",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=600,
                )

            with ThreadPoolExecutor(POSTS) as pool:
                answers = list(pool.map(post, bodies))
            wrote_during_storm = _last_cycle(store, before) > before
            api_log = api.log_tail()
        sim_log = log_path.read_text(errors="replace")
        assert [a.status_code for a in answers] == [202] * POSTS, [a.text[:300] for a in answers]
        assert [a.json()["stored"] for a in answers] == [ALERTS] * POSTS
        assert simulator.poll() is None, f"the simulator died:\n{sim_log[-3000:]}"
        assert "locked" not in sim_log and "locked" not in api_log, (sim_log[-2000:], api_log)
        assert wrote_during_storm, "the simulator wrote no telemetry cycle during the storm"
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
