"""`swen queue` and the queue's metrics: what is queued, why it waits, the change budget in use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.builders import decision
from support.cli import make_swen
from swen.config import Settings
from swen.domain.merge_requests import MRKind
from swen.moves.queue import ChangeBudget, action_for
from swen.observability.metrics import StoreCollector, build_registry
from swen.store.actions import ActionQueue
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store


def _seed(home: Path) -> None:
    with Store.open(Settings(home=home)) as store:
        mrs = MergeRequestRepository(store)
        for n in range(2):
            d = decision(f"open{n}", service=f"open{n}")
            store.save_decision(d)
            mrs.create(decision_id=d.id, service=d.service, branch=f"ai-rec/open{n}", host="local",
                       title="t", description="d", kind=MRKind.MIGRATION)  # fmt: skip
        held = decision("held", service="held", net_monthly=321.0)
        store.save_decision(held)
        ActionQueue(store).enqueue([action_for(held)])


def test_swen_queue_shows_the_budget_and_why_a_move_waits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, swen_home: Path
) -> None:
    _seed(swen_home)
    swen = make_swen(capsys, monkeypatch)
    env = {"SWEN_HOME": str(swen_home), "SWEN_BUDGET_FLEET_MRS": "2"}
    shown = swen("queue", env=env)
    shown.assert_ok()
    assert "1 pending, 0 running" in shown.out
    assert "change budget (full): 2/2 open MRs" in shown.out
    assert "waiting: change budget full (2 open MRs)" in shown.out
    as_json = swen("queue", "--json", env=env)
    as_json.assert_ok()
    document = json.loads(as_json.out)
    (row,) = document["actions"]
    assert (row["key"], row["priority"]) == ("propose:held", 321.0)
    assert row["waiting"] == "waiting: change budget full (2 open MRs)"
    bad = swen("queue", "--state", "sleeping", env=env)
    assert bad.code not in (0, None) and "not an action state" in bad.err


def test_metrics_expose_queue_depth_and_budget_use(swen_home: Path) -> None:
    _seed(swen_home)
    with Store.open(Settings(home=swen_home)) as store:
        registry = build_registry(store).registry
        budget = ChangeBudget(fleet_mrs=2)
        families = {f.name: f for f in StoreCollector(store, budget=budget).collect()}
        depth = {s.labels["state"]: s.value for s in families["swen_action_queue_depth"].samples}
        assert depth == {"pending": 1.0, "running": 0.0, "done": 0.0, "failed": 0.0}
        use = {(s.labels["resource"], s.labels["provider"]): s.value
               for s in families["swen_change_budget_in_use"].samples}  # fmt: skip
        assert use[("open_mrs", "all")] == 2.0 and use[("applies", "all")] == 0.0
        assert use[("open_mrs", "alibaba")] == 2.0
        limits = {(s.labels["resource"], s.labels["scope"]): s.value
                  for s in families["swen_change_budget_limit"].samples}  # fmt: skip
        assert limits[("open_mrs", "fleet")] == 2.0 and limits[("applies", "provider")] == 3.0
        assert registry.get_sample_value("swen_action_queue_depth", {"state": "pending"}) == 1.0
