"""A fleet's arrays built once and passed to every cycle (``EngineInputs.fleet``) decide exactly what
the arrays built inside the cycle decide; ``FleetArrays.moved`` follows an applied move."""

from __future__ import annotations

import numpy as np
import pytest
from engine_factories import ALI_HZ, ALI_SG, US_EAST, US_WEST, cell, make_scenario

from support.builders import service
from swen.domain.errors import EngineError
from swen.engine.fleet import FleetArrays
from swen.engine.savings import egress_per_gb

REASON = "no Terraform module in this test"


def _scenario():  # type: ignore[no-untyped-def]
    services = [
        service("web", fleet_placement=US_EAST),
        service("db", fleet_placement=US_WEST, stateful=True),
        service("api", fleet_placement=ALI_SG),
    ]
    cells = {}
    for i, s in enumerate(services):
        for j, p in enumerate((US_EAST, US_WEST, ALI_SG, ALI_HZ)):
            cells[(s.name, p)] = cell(hourly=1.0 + 0.3 * ((i + j) % 4), latency=20.0 + 5 * j)
    return make_scenario(services, cells)


def _summary(result):  # type: ignore[no-untyped-def]
    return [(d.service, d.action, d.target, d.confidence.value, d.savings) for d in result.decisions]


def test_a_fleet_built_once_decides_as_one_built_every_cycle() -> None:
    scenario = _scenario()
    scenario.run(10)
    current = {"web": ALI_SG}
    undeployable = {"alibaba": REASON}
    built = scenario.evaluate(current=current, undeployable=undeployable)
    fleet = FleetArrays.build(
        scenario.services, scenario.window.placements, current=current, undeployable=undeployable
    )
    reused = scenario.evaluate(fleet=fleet)
    assert _summary(reused) == _summary(built)
    # the case is not trivial: the override moved web, a move is proposed, alibaba is excluded
    actions = {d.service: (d.action.value, d.current) for d in reused.decisions}
    assert actions == {"web": ("migrate", ALI_SG), "db": ("migrate", US_WEST), "api": ("stay", ALI_SG)}
    assert reused.cycle.row_of == {"web": 0, "db": 1, "api": 2}


def test_moved_changes_only_that_service_placement() -> None:
    scenario = _scenario()
    fleet = FleetArrays.build(scenario.services, scenario.window.placements)
    moved = fleet.moved(0, ALI_HZ)
    assert moved.current[0] == ALI_HZ and moved.current[1:] == fleet.current[1:]
    assert int(moved.current_idx[0]) == scenario.window.placements.index(ALI_HZ)
    assert fleet.current[0] == US_EAST  # the original is unchanged
    rebuilt = FleetArrays.build(scenario.services, scenario.window.placements, current={"web": ALI_HZ})
    assert moved.current_idx.tolist() == rebuilt.current_idx.tolist()
    assert moved.stateful.tolist() == [False, True, False]


def test_a_fleet_with_other_inputs_or_placements_is_refused() -> None:
    scenario = _scenario()
    scenario.run(1)
    fleet = FleetArrays.build(scenario.services, scenario.window.placements)
    with pytest.raises(EngineError, match="together with current"):
        scenario.evaluate(fleet=fleet, current={"web": ALI_SG})
    other = FleetArrays.build(scenario.services, scenario.window.placements[:2])
    with pytest.raises(EngineError, match="does not match"):
        scenario.evaluate(fleet=other)


def test_egress_prices_are_looked_up_once_per_pair_across_cycles_and_moves() -> None:
    calls: list[tuple[str, str]] = []

    def lookup(src, dst):  # type: ignore[no-untyped-def]
        calls.append((src.key, dst.key))
        return 0.05 if src.provider == dst.provider else 0.09

    placements = (US_EAST, US_WEST, ALI_SG, ALI_HZ)
    fleet = FleetArrays.build([service("a"), service("b")], placements)
    known = fleet.egress_known(lookup)
    assert known.shape == (4, 4) and np.isnan(known).all()
    cur, target = np.array([0, 2]), np.array([2, 2])  # b is not moving: 0, and never looked up
    first = egress_per_gb(placements, cur, target, lookup, known)
    assert first.tolist() == [0.09, 0.0] == egress_per_gb(placements, cur, target, lookup).tolist()
    assert calls == [(US_EAST.key, ALI_SG.key)] * 2  # once with the memo, once without
    moved = fleet.moved(1, US_WEST)
    assert moved.egress_known(lookup) is known  # the moved fleet shares the memo
    again = egress_per_gb(placements, np.array([0, 1]), np.array([2, 0]), lookup, known)
    assert again.tolist() == [0.09, 0.05]
    assert calls[2:] == [(US_WEST.key, US_EAST.key)]  # only the new pair
    other = fleet.egress_known(lambda src, dst: 0.0)
    assert other is not known and np.isnan(other).all()  # another lookup starts afresh


def test_a_bad_egress_price_is_refused_and_not_remembered() -> None:
    placements = (US_EAST, US_WEST)
    fleet = FleetArrays.build([service("a")], placements)

    def lookup(src, dst):  # type: ignore[no-untyped-def]
        return float("nan")

    known = fleet.egress_known(lookup)
    with pytest.raises(EngineError, match="egress price"):
        egress_per_gb(placements, np.array([0]), np.array([1]), lookup, known)
    assert np.isnan(known).all()
