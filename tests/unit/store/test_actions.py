"""The action queue on both backends: idempotent enqueue, best-first claims under the change budget,
leases that make a crashed worker's action claimable again, and fencing of a deposed leader."""

from __future__ import annotations

import pytest

from support.builders import decision
from swen.domain.errors import ConflictError, FencedError, InvalidInputError
from swen.domain.merge_requests import MRKind
from swen.moves.queue import ChangeBudget, action_for
from swen.store.actions import ActionQueue, ActionRecord, ActionSpec, BudgetUse
from swen.store.leases import Fence, LeaseRepository
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

BUDGET = ChangeBudget()


def _hold(action: ActionRecord, use: BudgetUse, opens_mr: bool) -> str | None:
    return BUDGET.hold(action, use, opens_mr)


def _claim(queue: ActionQueue, worker: str = "w1", lease_s: float = 60.0) -> ActionRecord | None:
    return queue.claim(owner="engine-a", worker=worker, lease_s=lease_s, hold=_hold)


def _saved(store: Store, decision_id: str, **kwargs: object) -> ActionSpec:
    d = decision(decision_id, service=f"svc-{decision_id}", **kwargs)  # type: ignore[arg-type]
    store.save_decision(d)
    return action_for(d)


def test_enqueuing_the_same_decision_twice_makes_one_action(store: Store) -> None:
    queue = ActionQueue(store)
    spec = _saved(store, "d1")
    assert queue.enqueue([spec, spec]) == ["propose:d1"]
    assert queue.enqueue([spec]) == []
    # another phase of a decision that still has an action pending gets none either
    apply = ActionSpec(kind="apply", key="apply:d1", service=spec.service, provider=spec.provider,
                       priority=1.0, decision_id="d1")  # fmt: skip
    assert queue.enqueue([apply]) == []
    assert queue.counts() == {"pending": 1, "running": 0, "done": 0, "failed": 0}
    assert [a.key for a in queue.list()] == ["propose:d1"]


def test_an_ended_action_is_queued_again_when_still_owed(store: Store) -> None:
    queue = ActionQueue(store)
    spec = _saved(store, "d1")
    queue.enqueue([spec])
    claimed = _claim(queue)
    assert claimed is not None
    queue.complete(claimed, "busy: another process holds the lock")
    assert queue.enqueue([spec]) == ["propose:d1"]
    again = _claim(queue)
    assert again is not None and again.key == "propose:d1" and again.attempts == 2


def test_bad_kind_and_state_are_refused(store: Store) -> None:
    queue = ActionQueue(store)
    with pytest.raises(InvalidInputError, match="unknown action kind 'merge'"):
        queue.enqueue([ActionSpec(kind="merge", key="merge:x", service="s", provider="aws", priority=0)])
    with pytest.raises(InvalidInputError, match="unknown action state"):
        queue.list(state="sleeping")
    assert queue.counts()["pending"] == 0


def test_claims_take_emergencies_first_then_the_most_valuable(store: Store) -> None:
    queue = ActionQueue(store)
    small = _saved(store, "small", net_monthly=60.0)
    big = _saved(store, "big", net_monthly=900.0)
    urgent = _saved(store, "urgent", net_monthly=-20.0, emergency=True)
    queue.enqueue([small, big, urgent])
    order = []
    while (claimed := _claim(queue)) is not None:
        order.append(claimed.key)
        queue.complete(claimed, "waiting")
    assert order == ["propose:urgent", "propose:big", "propose:small"]
    assert _claim(queue) is None


def test_a_crashed_workers_action_is_claimable_again_and_its_late_completion_refused(store: Store) -> None:
    queue = ActionQueue(store)
    queue.enqueue([_saved(store, "d1")])
    first = _claim(queue, "w1", lease_s=0.0)  # the worker dies holding it: the lease is already over
    assert first is not None and first.state == "running"
    second = _claim(queue, "w2")
    assert second is not None and second.key == first.key and second.worker == "w2"
    assert second.attempts == 2
    with pytest.raises(ConflictError, match="no longer claimed by w1"):
        queue.complete(first, "applied")
    queue.complete(second, "applied")
    (done,) = queue.list()
    assert (done.state, done.outcome, done.worker) == ("done", "applied", "w2")


def test_a_new_leader_releases_the_claims_of_the_old_one(store: Store) -> None:
    queue = ActionQueue(store)
    queue.enqueue([_saved(store, "d1")])
    assert _claim(queue) is not None  # engine-a claims it and dies (a long lease)
    assert _claim(queue) is None
    assert queue.release_others("engine-b") == 1
    taken = queue.claim(owner="engine-b", worker="w1", lease_s=60, hold=_hold)
    assert taken is not None and taken.owner == "engine-b"
    assert queue.release_others("engine-b") == 0  # its own claims stay


def test_a_deposed_leader_can_neither_claim_nor_complete(database_url: str) -> None:
    leader, other = Store.from_url(database_url), Store.from_url(database_url, migrate=False)
    try:
        lease = LeaseRepository(leader).acquire("engine", "leader", ttl_s=60)
        assert lease is not None
        leader.fence = lease.fence
        queue = ActionQueue(leader)
        queue.enqueue([_saved(other, "d1"), _saved(other, "d2")])
        claimed = _claim(queue)
        assert claimed is not None
        # the lease row now names another holder: this engine was deposed
        leader.fence = Fence("engine", "leader", lease.token + 1)
        with pytest.raises(FencedError):
            _claim(queue)
        with pytest.raises(FencedError):
            queue.complete(claimed, "applied")
        states = {a.key: a.state for a in ActionQueue(other).list()}
        assert states == {"propose:d1": "running", "propose:d2": "pending"}
    finally:
        leader.close()
        other.close()


def test_the_change_budget_holds_normal_moves_and_says_why(store: Store) -> None:
    queue = ActionQueue(store)
    mrs = MergeRequestRepository(store)
    for n in range(20):  # twenty moves already wait in open MRs
        spec = _saved(store, f"open{n}", target="aws/eu-west-1")
        mrs.create(decision_id=f"open{n}", service=spec.service, branch=f"ai-rec/open{n}", host="local",
                   title="t", description="d", kind=MRKind.MIGRATION)  # fmt: skip
    queue.enqueue([_saved(store, "next", net_monthly=5000.0)])
    assert _claim(queue) is None
    (held,) = queue.list(state="pending")
    assert held.waiting == "waiting: change budget full (20 open MRs)"
    assert queue.budget_use().open_mrs == 20
    # an emergency jumps the queue and is never held by the budget
    queue.enqueue([_saved(store, "fire", emergency=True, net_monthly=-10.0)])
    taken = _claim(queue)
    assert taken is not None and taken.key == "propose:fire"
    # a move whose MR is already open (a retry after a crash) needs no new MR: it may go on
    queue.enqueue([action_for(store.get_decision("open3").decision)])
    retried = _claim(queue)
    assert retried is not None and retried.key == "propose:open3"


def test_moves_in_flight_are_bounded_per_provider_and_fleet(store: Store) -> None:
    queue = ActionQueue(store)
    budget = ChangeBudget(fleet_mrs=100, fleet_applies=3, provider_mrs=100, provider_applies=2)

    def hold(action: ActionRecord, use: BudgetUse, opens_mr: bool) -> str | None:
        return budget.hold(action, use, opens_mr)

    specs = [_saved(store, f"a{n}", target="aws/eu-west-1", net_monthly=100.0 + n) for n in range(3)]
    specs += [_saved(store, "b0", target="alibaba/ap-southeast-1", net_monthly=1.0)]
    queue.enqueue(specs)
    claims = [queue.claim(owner="e", worker=f"w{n}", lease_s=60, hold=hold) for n in range(4)]
    # two aws moves (the provider's limit), then the alibaba one although it saves least, then the fleet
    assert [c.key if c else None for c in claims] == ["propose:a2", "propose:a1", "propose:b0", None]
    (waiting,) = queue.list(state="pending")
    assert waiting.waiting == "waiting: change budget full (3 applies in flight)"


def test_a_proposal_being_carried_holds_its_place_in_the_mr_budget(store: Store) -> None:
    """Two workers claiming at 19 open MRs of 20 would both open one (21, as the 10,000-service bench
    saw: 11 open MRs against a provider's 10): a claimed proposal counts as the MR it will open."""
    queue = ActionQueue(store)
    mrs = MergeRequestRepository(store)
    budget = ChangeBudget(fleet_mrs=3, fleet_applies=10, provider_mrs=10, provider_applies=10)

    def hold(action: ActionRecord, use: BudgetUse, opens_mr: bool) -> str | None:
        return budget.hold(action, use, opens_mr)

    spec = _saved(store, "open0", target="aws/eu-west-1")
    mrs.create(decision_id="open0", service=spec.service, branch="ai-rec/open0", host="local",
               title="t", description="d", kind=MRKind.MIGRATION)  # fmt: skip
    queue.enqueue([_saved(store, f"p{n}", target="aws/eu-west-1", net_monthly=100.0 - n) for n in range(3)])
    claims = [queue.claim(owner="e", worker=f"w{n}", lease_s=60, hold=hold) for n in range(3)]
    assert [c.key if c else None for c in claims] == ["propose:p0", "propose:p1", None]
    use = queue.budget_use()
    assert use.open_mrs == 3 and use.open_mrs_by_provider == {"aws": 3}
    (waiting,) = queue.list(state="pending")
    assert waiting.waiting == "waiting: change budget full (3 open MRs)"
    # once p0's MR is open it is counted once, not twice
    mrs.create(decision_id="p0", service="svc-p0", branch="ai-rec/p0", host="local", title="t",
               description="d", kind=MRKind.MIGRATION)  # fmt: skip
    assert queue.budget_use().open_mrs == 3
    # a finished proposal leaves only its MR; the freed place goes to the next
    queue.complete(claims[1], "failed", failed=True)  # type: ignore[arg-type]
    assert queue.budget_use().open_mrs == 2
    assert _claim(queue) is not None
