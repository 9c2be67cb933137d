"""Failures after the merge, policy denial, locks and notifications - real git, terraform, HTTP."""

from __future__ import annotations

import fcntl
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from support.builders import ORDERS_API, decision
from support.platform import Platform, git, make_platform
from swen.domain.decision import DecisionStatus
from swen.domain.errors import ConflictError, LockError
from swen.domain.events import EventType
from swen.domain.merge_requests import MRState, RunStatus, StageName, StageStatus
from swen.domain.models import Placement
from swen.gitops.template import TFVARS_PATH
from swen.gitops.tfvars import edit_placement, read_placements
from swen.pipeline.lock import APPLY_LOCK_NAME, StoreLock
from swen.pipeline.policy import PolicyGate
from swen.pipeline.stages import state_path

S = DecisionStatus
pytestmark = pytest.mark.slow
HOME = Placement(provider="aws", region="us-east-1")


@pytest.fixture
def env(swen_home: Path) -> Platform:
    return make_platform(swen_home)


def _stage(run: Any, name: StageName) -> Any:
    return next(s for s in run.stages if s.name is name)


def test_failed_apply_reverts_main_and_keeps_the_previous_placement(env: Platform) -> None:
    mr = env.committer.propose(decision("d-locked"))
    for stage in (StageName.VALIDATE, StageName.POLICY, StageName.PLAN):
        run = env.driver.runner.run_stage(mr.id, stage).run
        assert _stage(run, stage).status is StageStatus.SUCCESS
    before_main = env.main_tfvars()
    # Terraform's own state lock (fcntl on the state file) held by another process: apply cannot run.
    with open(state_path(env.settings), "r+") as state:
        fcntl.lockf(state, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            run = env.driver.runner.run_stage(mr.id, StageName.APPLY).run
        finally:
            fcntl.lockf(state, fcntl.LOCK_UN)

    assert run.status is RunStatus.FAILED
    apply = _stage(run, StageName.APPLY)
    assert apply.status is StageStatus.FAILED
    assert "state lock" in apply.log.lower()
    assert apply.log.count("transient failure") == 2  # three tries, and no restore: nothing was applied
    assert "reverted main" in apply.log
    assert _stage(run, StageName.NOTIFY).status is StageStatus.SKIPPED
    # main says what is applied again; the merge and its revert are both in history
    assert env.main_tfvars() == before_main
    log = git("log", "--format=%s", "main", cwd=env.origin)
    assert log.splitlines()[0].startswith(f"Revert MR {mr.id}")
    assert env.store.get_decision("d-locked").status is S.FAILED
    assert env.store.get_placements()["service-1"] == HOME
    assert env.state_outputs()["service-1"] == {"provider": "aws", "region": "us-east-1"}
    actions = [e.payload["action"] for e in env.store.events_after(0, types=[EventType.MR])]
    assert actions[-2:] == ["merged", "reverted"]


BROKEN_MODULE = """\
# Injected by a test: fails while terraform applies (a creation-time provisioner that exits 1).
resource "terraform_data" "apply_guard" {
  triggers_replace = [var.service_placement["service-1"].region]

  provisioner "local-exec" {
    command = "echo refusing to apply >&2; exit 1"
  }
}
"""


def test_apply_that_breaks_half_way_is_restored(env: Platform) -> None:
    mr = env.committer.propose(decision("d-half"))
    env.repo.commit_file(
        branch=mr.branch,
        base=f"origin/{mr.branch}",
        path="infra/envs/sim/apply_guard.tf",
        content=BROKEN_MODULE,
        message="add an apply guard",
    )
    env.repo.push_branch(mr.branch)
    before_main = env.main_tfvars()

    run = env.driver.run(mr.id).run
    # an extra resource outside the service's placement: a person must look
    assert run.status is RunStatus.AWAITING_APPROVAL
    run = env.approve_and_apply(mr.id, "erin")

    assert run.status is RunStatus.FAILED
    apply = _stage(run, StageName.APPLY)
    assert "refusing to apply" in apply.log and "local-exec" in apply.log
    assert "applying main to restore them" in apply.log
    # main, the state and the store all say: service-1 still runs where it ran before
    assert env.main_tfvars() == before_main
    assert "apply_guard.tf" not in git("ls-tree", "-r", "--name-only", "main", cwd=env.origin)
    assert env.state_outputs()["service-1"] == {"provider": "aws", "region": "us-east-1"}
    assert env.store.get_placements()["service-1"] == HOME
    assert env.store.get_decision("d-half").status is S.FAILED


FREEZE_MAIN = """\
#!/bin/sh
while read -r old new ref; do
  if [ "$ref" = refs/heads/main ]; then
    echo "main is frozen for the release" >&2
    exit 1
  fi
done
"""


def test_push_the_remote_rejects_fails_apply_with_gits_message(env: Platform) -> None:
    mr = env.committer.propose(decision("d-frozen"))
    hook = env.origin / "hooks" / "pre-receive"
    hook.write_text(FREEZE_MAIN)
    hook.chmod(0o755)
    run = env.driver.run(mr.id).run
    assert run.status is RunStatus.FAILED
    apply = _stage(run, StageName.APPLY)
    assert "main is frozen for the release" in apply.log and "transient failure" not in apply.log
    assert env.store.get_decision("d-frozen").status is S.FAILED
    assert env.host.get(mr.id).state is MRState.CLOSED  # a failed move holds its MR no longer
    assert env.store.get_placements()["service-1"] == HOME
    assert env.state_outputs()["service-1"] == {"provider": "aws", "region": "us-east-1"}


BROKEN_POLICY = """\
package swen.gate

default result := {"outcome": "manual_review", "reasons": ["default"], "override": false}

result := {"outcome": "auto_approve", "reasons": ["a"], "override": false} if input.decision

result := {"outcome": "deny", "reasons": ["b"], "override": false} if input.decision
"""


def test_policy_error_fails_the_policy_stage(swen_home: Path) -> None:
    env = make_platform(swen_home, gate=PolicyGate(BROKEN_POLICY))
    mr = env.committer.propose(decision("d-policy-error"))
    run = env.driver.run(mr.id).run
    assert run.status is RunStatus.FAILED
    policy = _stage(run, StageName.POLICY)
    assert policy.status is StageStatus.FAILED and "ERROR: the policy reported errors" in policy.log
    assert env.store.get_decision("d-policy-error").status is S.FAILED
    assert env.store.get_placements()["service-1"] == HOME


def test_policy_denial_rejects_the_decision_and_closes_the_mr(env: Platform) -> None:
    mr = env.committer.propose(decision("d-sneaky"))
    # someone adds a second move to the branch: the plan now replaces another service too
    base = f"origin/{mr.branch}"
    text = env.repo.read_file(base)
    tampered = edit_placement(text, "service-2", "aws", "us-west-2")
    env.repo.commit_file(branch=mr.branch, base=base, path=TFVARS_PATH, content=tampered, message="also this")
    env.repo.push_branch(mr.branch)

    run = env.driver.run(mr.id).run

    assert run.status is RunStatus.FAILED
    policy = _stage(run, StageName.POLICY)
    assert policy.status is StageStatus.FAILED and "deletes_beyond_move" in policy.log
    assert env.store.get_decision("d-sneaky").status is S.REJECTED
    closed = env.host.get(mr.id)
    assert closed.state is MRState.CLOSED and closed.review == "deny"
    assert read_placements(env.main_tfvars())["service-2"].region == "us-east-1"
    assert env.store.get_placements()["service-1"] == HOME


def test_plan_that_changed_since_the_policy_check_is_refused(env: Platform) -> None:
    mr = env.committer.propose(decision("d-drift"))
    env.driver.runner.run_stage(mr.id, StageName.VALIDATE)
    env.driver.runner.run_stage(mr.id, StageName.POLICY)
    # another MR is applied in between: the state now differs from what the policy planned against
    other = env.committer.propose(
        decision(
            "d-other",
            service="service-3",
            current="alibaba/ap-southeast-1",
            target="aws/ap-southeast-1",
            current_type="ecs.c7.2xlarge",
            target_type="c5.2xlarge",
        )
    )
    assert env.driver.run(other.id).run.status is RunStatus.SUCCESS
    # and someone force-moves the first branch: a new commit the policy never saw
    base = f"origin/{mr.branch}"
    text = env.repo.read_file(base)
    env.repo.commit_file(
        branch=mr.branch,
        base=base,
        path=TFVARS_PATH,
        content=text.replace("replicas      = 2", "replicas      = 3", 1),
        message="more replicas",
    )
    env.repo.push_branch(mr.branch)

    run = env.driver.runner.run_stage(mr.id, StageName.PLAN).run

    assert run.status is RunStatus.FAILED
    assert "branch moved since the policy check" in _stage(run, StageName.PLAN).log
    assert env.store.get_decision("d-drift").status is S.FAILED


def test_a_live_apply_lock_blocks_the_apply_and_names_its_holder(env: Platform) -> None:
    mr = env.committer.propose(decision("d-busy"))
    before_main = env.main_tfvars()
    with StoreLock(env.store, APPLY_LOCK_NAME, owner="someone else's apply", stale_after_s=600):
        run = env.driver.run(mr.id).run
    assert run.status is RunStatus.FAILED
    apply = _stage(run, StageName.APPLY)
    assert "someone else's apply" in apply.log and "waiting" in apply.log
    assert env.main_tfvars() == before_main  # nothing merged
    assert env.host.get(mr.id).state is MRState.CLOSED  # failed: the engine proposes afresh
    assert env.store.get_placements()["service-1"] == HOME


def test_a_second_runner_on_the_same_mr_is_refused(env: Platform) -> None:
    mr = env.committer.propose(decision("d-twice"))
    with (
        StoreLock(env.store, f"pipeline:mr:{mr.id}", owner="other runner", stale_after_s=600),
        pytest.raises(LockError, match="other runner"),
    ):
        env.driver.run(mr.id)


def test_apply_before_approval_is_refused_in_stage_mode(env: Platform) -> None:
    mr = env.committer.propose(decision("d-wait", **ORDERS_API))
    for stage in (StageName.VALIDATE, StageName.POLICY, StageName.PLAN):
        env.driver.runner.run_stage(mr.id, stage)
    with pytest.raises(ConflictError, match="approval"):
        env.driver.runner.run_stage(mr.id, StageName.APPLY)
    env.host.approve(mr.id, "carol")
    run = env.driver.runner.run_stage(mr.id, StageName.APPLY).run
    assert _stage(run, StageName.APPLY).status is StageStatus.SUCCESS
    run = env.driver.runner.run_stage(mr.id, StageName.NOTIFY).run
    assert run.status is RunStatus.SUCCESS
    assert env.store.get_decision("d-wait").status is S.APPLIED


def test_an_approval_is_recorded_and_the_engine_applies_it(env: Platform) -> None:
    mr = env.committer.propose(decision("d-yes", **ORDERS_API))
    assert env.driver.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL

    env.driver.approve(mr.id, "frank")  # what the API and `swen mr approve --record-only` do
    assert env.store.get_decision("d-yes").status is S.APPROVED
    waiting = env.runner.show(mr.id)
    assert waiting is not None and waiting.status is RunStatus.AWAITING_APPROVAL  # nothing applied yet

    report = env.driver.resume()  # the engine's next look
    assert report.outcomes == {"d-yes": "applied"} and not report.errors
    run = env.runner.show(mr.id)
    assert run is not None and run.status is RunStatus.SUCCESS
    assert env.store.get_decision("d-yes").status is S.APPLIED
    assert env.store.get_placements()["orders-api"].provider == "alibaba"


def test_early_approval_is_honoured_at_the_gate(env: Platform) -> None:
    mr = env.committer.propose(decision("d-early", **ORDERS_API))
    env.driver.approve(mr.id, "grace")  # before any run: only recorded
    run = env.driver.run(mr.id).run
    assert run.status is RunStatus.SUCCESS
    assert "approved by grace" in _stage(run, StageName.PLAN).log
    assert env.store.get_decision("d-early").status is S.APPLIED


def test_mr_reject_ends_the_waiting_run(env: Platform) -> None:
    mr = env.committer.propose(decision("d-no", **ORDERS_API))
    assert env.driver.run(mr.id).run.status is RunStatus.AWAITING_APPROVAL

    env.driver.reject(mr.id, "dave", "not during the sale")  # `swen mr reject`

    run = env.runner.show(mr.id)
    assert run is not None and run.status is RunStatus.FAILED
    assert _stage(run, StageName.APPLY).status is StageStatus.SKIPPED
    assert env.store.get_decision("d-no").status is S.REJECTED
    assert env.host.get(mr.id).state is MRState.CLOSED
    notes = env.store.events_after(0, types=[EventType.NOTIFICATION])
    assert notes[-1].payload["status"] == "rejected" and "not during the sale" in notes[-1].payload["text"]
    with pytest.raises(ConflictError):
        env.approve_and_apply(mr.id, "dave")


# --- notifications -----------------------------------------------------------------------------


class _Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200


@pytest.fixture
def hook() -> Iterator[tuple[_Hook, str]]:
    state = _Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"json://127.0.0.1:{server.server_address[1]}/hooks/T1/B1/s3cret"
    finally:
        server.shutdown()
        server.server_close()


def test_applied_move_is_sent_to_the_apprise_target(swen_home: Path, hook: tuple[_Hook, str]) -> None:
    state, url = hook
    env = make_platform(swen_home, notify_urls=(url,))
    mr = env.committer.propose(decision("d-hook"))
    run = env.driver.run(mr.id).run
    assert run.status is RunStatus.SUCCESS
    [body] = state.bodies
    assert body["title"].startswith(f"SWEN MR {mr.id}:") and body["type"] == "success"
    lines = body["message"].splitlines()
    assert "service-1 moved to alibaba/ap-southeast-1" in lines[0]
    assert "service: service-1" in lines and "decision: d-hook" in lines and "policy: auto_approve" in lines
    assert any(line.startswith("move: ") and line.endswith("-> alibaba/ap-southeast-1") for line in lines)
    log = _stage(run, StageName.NOTIFY).log
    assert "sent to json://127.0.0.1:" in log and "s3cret" not in log


def test_a_receiver_that_is_down_is_logged_and_the_run_completes(
    swen_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = make_platform(swen_home, notify_urls=(f"json://127.0.0.1:{port}/hooks/T1/B1/s3cret",))
    mr = env.committer.propose(decision("d-mute"))
    with caplog.at_level(logging.WARNING):
        run = env.driver.run(mr.id).run
    assert run.status is RunStatus.SUCCESS
    notify = _stage(run, StageName.NOTIFY)
    assert notify.status is StageStatus.SUCCESS and "NOT delivered to json://127.0.0.1:" in notify.log
    [warning] = [r.getMessage() for r in caplog.records if r.name == "swen.pipeline.notify"]
    assert "service-1" in warning and f"json://127.0.0.1:{port}/…" in warning
    assert "s3cret" not in notify.log and "s3cret" not in caplog.text
    assert env.store.get_decision("d-mute").status is S.APPLIED
    assert env.store.get_placements()["service-1"].provider == "alibaba"
    [event] = [
        e for e in env.store.events_after(0, types=[EventType.NOTIFICATION]) if e.decision_id == "d-mute"
    ]
    assert event.payload["status"] == "success"
