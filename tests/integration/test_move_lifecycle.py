"""The move has one owner: the defects hostile testing found, each reproduced against real git and
terraform (issue "One owner for every move").

- an approved change survives a crash of the process applying it, and is applied on a branch re-cut
  on the current main (another service's move merged meanwhile);
- a transition is compare-and-set: of 20 parallel approvals exactly one is recorded;
- a superseded MR's waiting run ends;
- a failure closes its MR (see also test_pipeline_failures.py), so the next proposal is not refused;
- approvals taken by two API processes are applied exactly once, by the engine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.builders import ORDERS_API, decision
from support.platform import Platform, git, make_platform
from swen.domain.decision import DecisionStatus
from swen.domain.errors import ConflictError
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.domain.merge_requests import MRState, RunStatus
from swen.moves import reviews
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import PipelineRepository

S = DecisionStatus


@pytest.fixture
def env(tmp_path: Path) -> Platform:
    return make_platform(tmp_path / "home")


def _events(env: Platform, type_: EventType, **match: object) -> list[dict[str, object]]:
    out = []
    for event in env.store.events_after(0, types=[type_], limit=10_000):
        if all(event.payload.get(k) == v for k, v in match.items()):
            out.append(event.payload)
    return out


def test_an_approved_change_interrupted_mid_apply_is_resumed_on_a_branch_cut_from_current_main(
    env: Platform,
) -> None:
    waiting = env.committer.propose(decision("d-wait", **ORDERS_API))
    assert env.driver.run(waiting.id).run.status is RunStatus.AWAITING_APPROVAL
    stale_head = git("rev-parse", waiting.branch, cwd=env.origin)

    other = env.committer.propose(decision("d-other", service="service-1"))
    assert env.driver.run(other.id).run.status is RunStatus.SUCCESS  # main moved on
    main_after_other = git("rev-parse", "main", cwd=env.origin).strip()

    env.driver.approve(waiting.id, "erin")  # recorded by the API or CLI ...
    run = env.runner.show(waiting.id)
    assert run is not None
    PipelineRepository(env.store).set_status(run.id, RunStatus.RUNNING)  # ... then kill -9 mid-apply

    report = env.driver.resume()  # the engine after the restart

    assert report.errors == [] and report.outcomes["d-wait"] == "applied"
    assert env.store.get_decision("d-wait").status is S.APPLIED
    placements = env.store.get_placements()
    assert placements["orders-api"].provider == "alibaba"
    assert placements["service-1"].provider == "alibaba"  # the other move was kept, not reverted
    new_head = git("rev-parse", waiting.branch, cwd=env.origin).strip()
    assert new_head != stale_head.strip()
    assert git("rev-parse", f"{new_head}~1", cwd=env.origin).strip() == main_after_other  # re-cut on main


def test_twenty_parallel_approvals_record_exactly_one(env: Platform) -> None:
    mr = env.committer.propose(decision("d-race", **ORDERS_API))
    assert env.driver.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL
    results: list[str] = []
    barrier = threading.Barrier(20)

    def approve(i: int) -> None:
        barrier.wait()
        try:
            reviews.approve(env.store, env.host, mr.id, f"op-{i}")
            results.append("ok")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 19 + ["ok"]
    assert len(_events(env, EventType.MR, action="approved", mr_id=mr.id)) == 1
    assert len(_events(env, EventType.DECISION_STATUS, to="approved")) == 1
    assert env.store.get_decision("d-race").status is S.APPROVED


def test_a_superseded_merge_request_ends_its_waiting_run(env: Platform) -> None:
    first = env.committer.propose(decision("d-first", **ORDERS_API))
    assert env.driver.run(first.id).run.status is RunStatus.AWAITING_APPROVAL
    second = decision("d-second", target="aws/us-west-2", **ORDERS_API)
    env.driver.propose(second.model_copy(update={"id": "d-second"}))

    assert env.store.get_decision("d-first").status is S.SUPERSEDED
    assert env.host.get(first.id).state is MRState.CLOSED
    run = env.runner.show(first.id)
    assert run is not None and run.status is RunStatus.FAILED  # not awaiting_approval forever


def test_after_a_failed_apply_the_next_proposal_for_the_service_is_not_refused(env: Platform) -> None:
    failing = env.committer.propose(decision("d-fail"))
    hook = env.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    assert env.driver.run(failing.id).run.status is RunStatus.FAILED
    hook.unlink()

    retry = decision("d-retry", target="aws/us-west-2", target_type="m5.large")
    mr = env.driver.propose(retry)  # today: "MR 1 ... is failed and cannot be superseded"
    assert env.host.get(mr.id).is_open or env.store.get_decision("d-retry").status is S.APPLIED
    assert env.store.get_decision("d-fail").status is S.FAILED


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_api(env: Platform, port: int) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "SWEN_HOME": str(env.settings.home),
        "PYTHONPATH": str(Path(__file__).parents[2] / "src"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "swen", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(port: int) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"API on port {port} did not start")


def test_approvals_through_two_api_processes_are_applied_once_by_the_engine(env: Platform) -> None:
    mr = env.committer.propose(decision("d-two", **ORDERS_API))
    assert env.driver.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL
    key = ApiKeyRepository(env.store).create("operator", Role.OPERATOR)[1]
    ports = [_free_port(), _free_port()]
    apis = [_start_api(env, port) for port in ports]
    try:
        for port in ports:
            _wait_ready(port)
        statuses: list[int] = []

        def approve(port: int) -> None:
            response = httpx.post(
                f"http://127.0.0.1:{port}/mrs/{mr.id}/approve",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=approve, args=(port,)) for port in ports]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for api in apis:
            api.terminate()
            api.wait(timeout=10)
    assert sorted(statuses) == [202, 409]
    assert env.store.get_decision("d-two").status is S.APPROVED  # recorded; nothing applied by the API
    assert not _events(env, EventType.DECISION_STATUS, to="applied")

    first = env.driver.resume()  # the engine
    second = env.driver.resume()  # and again: nothing left to do
    assert first.outcomes == {"d-two": "applied"} and second.outcomes == {}
    assert env.store.get_decision("d-two").status is S.APPLIED
    applies = [e for e in _events(env, EventType.DECISION_STATUS, to="applied")]
    assert len(applies) == 1
