"""GitOps over a simulated week: the policy gate's auto-approved share and decision -> applied time.

For each variant, in a fresh temporary SWEN_HOME: ``init_infra_repo`` (real git: bare origin + clone)
and a SQLite store, then a simulated week of telemetry driven tick by tick, with the real
``EngineLoop`` and the real GitOps actuator (``gitops_actuator``: committer, MR on a real branch,
pipeline with ``terraform`` on the sim root and the Rego policy gate) cycling once per
``--ticks-per-cycle`` ticks. Nothing is mocked.

Method notes (also in docs/BENCHMARKS.md):
* Sampling every ``--interval`` simulated seconds (default 60 s: 10,080 ticks a week; the product's
  default 5 s would be 120,960). ``Settings.sim_interval_s`` is set to the same value, so the engine's
  window (10 ticks) and the cooldown (3600 s) keep their meaning in simulated time.
* ONE ``Simulator`` runs the whole week (price walks, credit burn/expiry, GPU stock-outs carry on);
  each tick is written exactly as ``swen simulate`` writes it (``swen.telemetry.runner._cycle``).
  Calling ``run_simulator(start=t, max_steps=k)`` again and again would build a new Simulator per call,
  re-seeded: every chunk would restart the price walks, the credit ledger, the stock-outs and the
  scenarios from the same state.
* A person reviews: a merge request waiting for approval is approved ``--review-delay-min`` simulated
  minutes later (``MoveDriver.approve`` then ``apply_now``, what ``swen mr approve`` does), so services
  are not frozen for the rest of the week by one open MR.
* Decision -> applied is measured in wall-clock time from the audit log (the ``decision`` event and
  the ``decision_status`` event to ``applied``); for manual reviews the time spent waiting for the
  person is left out (machine time only) and the simulated review delay is reported separately.
* Baseline, same run: ``terraform init + plan + apply`` of one placement change in the sim root, in
  one directory, nothing else (``bench/pipeline_bench.floor_s``).

    .venv/bin/python bench/gitops_week_bench.py [--days 7] [--interval 60] [--copies 5]
        [--scaled-interval 300] [--no-scenarios] [--variants default|scaled|default,scaled]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from swen.config import Settings
from swen.domain.events import EventType
from swen.domain.merge_requests import PipelineRun
from swen.domain.models import Service
from swen.gitops.repo import init_infra_repo
from swen.gitops.template import TFVARS_PATH, copy_template, locate_template
from swen.gitops.tfvars import read_placements, terraform_fmt
from swen.loop import EngineLoop, gitops_actuator
from swen.moves.driver import MoveDriver
from swen.store.mrs import MergeRequestRepository, PipelineRepository
from swen.store.repository import Store
from swen.telemetry import runner as sim_runner
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.credit_file import Grant, load_credit_ledger
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.scenarios import Scenario, ScenarioInbox, load_scenario_file
from swen.telemetry.simulator import Simulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_bench import floor_s  # the sibling bench's baseline helper

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, 00:00 UTC
REVIEWER = "bench-reviewer"
EXAMPLE_SCENARIOS = Path(__file__).resolve().parents[1] / "src/swen/data/scenarios-example.yaml"
_ENTRY_KEY = re.compile(r"^(\s*)([a-z][a-z0-9-]*)(\s*=\s*\{)\s*$")


# --- fleet and infra template ---------------------------------------------------------------------


def scaled_tfvars(text: str, copies: int) -> str:
    """``terraform.tfvars`` with every entry of ``service_placement`` repeated as ``<name>-001`` ..

    Same layout as the original (comment lines above each entry, one attribute a line), so the
    committer edits it the same way; formatted with ``terraform fmt``.
    """
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("service_placement"))
    end = max(i for i, line in enumerate(lines) if line.strip() == "}")
    body = "\n".join(lines[start + 1 : end]).strip("\n")
    entries = [chunk for chunk in re.split(r"\n\s*\n", body) if chunk.strip()]
    out: list[str] = []
    for copy in range(1, copies + 1):
        for entry in entries:
            renamed = []
            for line in entry.splitlines():
                match = _ENTRY_KEY.match(line)
                if match:
                    line = f"{match.group(1)}{match.group(2)}-{copy:03d}{match.group(3)}"
                renamed.append(line)
            out.append("\n".join(renamed))
    new = "\n".join(lines[: start + 1]) + "\n" + "\n\n".join(out) + "\n" + "\n".join(lines[end:]) + "\n"
    return terraform_fmt(new)


def scaled_services(services: Sequence[Service], copies: int) -> list[Service]:
    """The fleet repeated ``copies`` times as ``<name>-001`` .. (copies, not a generated fleet)."""
    return [
        s.model_copy(update={"name": f"{s.name}-{copy:03d}"})
        for copy in range(1, copies + 1)
        for s in services
    ]


def template_with_tfvars(root: Path, tfvars: str) -> Path:
    """A copy of the infra template (``swen init``'s) whose terraform.tfvars is ``tfvars``."""
    root.mkdir(parents=True)
    copy_template(locate_template(), root)
    (root / TFVARS_PATH).write_text(tfvars, encoding="utf-8")
    return root


# --- one variant ----------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    services: list[Service]
    credits: tuple[Grant, ...]
    interval_s: float
    scenarios: list[Scenario] = field(default_factory=list)
    tfvars: str | None = None  # None: the packaged template as it is


@dataclass
class Result:
    variant: Variant
    ticks: int
    cycles: int
    wall_s: float
    cycle_errors: list[str]
    decisions: dict[str, dict[str, object]]  # decision id -> facts
    runs: list[PipelineRun]
    reviews: int
    final_status: Counter[str]
    status_of: dict[str, str]


def run_variant(variant: Variant, days: float, ticks_per_cycle: int, review_delay_min: float) -> Result:
    work = Path(tempfile.mkdtemp(prefix=f"swen-gitops-week-{variant.name}-"))
    started = time.perf_counter()
    try:
        settings = Settings(home=work / "home", sim_interval_s=variant.interval_s, sim_speed=1e9, seed=42)
        settings.home.mkdir()
        template = None
        if variant.tfvars is not None:
            template = template_with_tfvars(work / "template", variant.tfvars)
        init_infra_repo(settings, template_root=template)
        with Store.open(settings) as store:
            result = _simulate_week(settings, store, variant, days, ticks_per_cycle, review_delay_min)
        result.wall_s = time.perf_counter() - started
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _simulate_week(
    settings: Settings,
    store: Store,
    variant: Variant,
    days: float,
    ticks_per_cycle: int,
    review_delay_min: float,
) -> Result:
    catalog: Catalog = load_catalog()
    interval = variant.interval_s
    sim = Simulator(variant.services, catalog, settings.seed, T0, interval, credits=variant.credits)
    for scenario in variant.scenarios:
        sim.activate(scenario, at=T0)
    store.upsert_services(variant.services)
    for service in variant.services:
        store.record_placement(service.name, service.fleet_placement, decision_id=None, at=T0)
    inbox = ScenarioInbox(store, catalog)
    loop = EngineLoop(settings, store, catalog=catalog, actuator=gitops_actuator(settings, store))
    reviewer = MoveDriver(settings, store)
    mrs = MergeRequestRepository(store)
    ticks = int(days * 86400 / interval)
    facts: dict[str, dict[str, object]] = {}
    waiting: dict[int, datetime] = {}  # MR id -> simulated time it started waiting for a person
    errors: list[str] = []
    last_event = 0
    cycles = reviews = 0
    for tick in range(ticks):
        now = T0 + timedelta(seconds=interval * tick)
        sim_runner._cycle(settings, store, sim, now, inbox, durable=False)
        if (tick + 1) % ticks_per_cycle:
            continue
        report = loop.cycle()
        cycles += 1
        errors.extend(report.errors)
        last_event = _note_events(store, mrs, last_event, now, facts, waiting)
        for mr_id, since in list(waiting.items()):
            if now - since >= timedelta(minutes=review_delay_min):
                del waiting[mr_id]
                mr = mrs.get(mr_id)
                if mr.is_open and store.get_decision(mr.decision_id).status.value == "awaiting_approval":
                    reviewer.approve(mr_id, REVIEWER)
                    reviewer.apply_now(mr_id)
                    reviews += 1
                    last_event = _note_events(store, mrs, last_event, now, facts, waiting)
    runs = _all_runs(PipelineRepository(store))
    status_of = {d: store.get_decision(d).status.value for d in facts}
    return Result(
        variant, ticks, cycles, 0.0, errors, facts, runs, reviews, Counter(status_of.values()), status_of
    )


def _note_events(
    store: Store,
    mrs: MergeRequestRepository,
    after: int,
    now: datetime,
    facts: dict[str, dict[str, object]],
    waiting: dict[int, datetime],
) -> int:
    """Record, per decision, the wall ts and simulated tick of its creation and each status change."""
    types = [EventType.DECISION, EventType.DECISION_STATUS]
    while True:
        events = store.events_after(after, limit=1000, types=types)
        if not events:
            return after
        for event in events:
            after = event.id
            if event.decision_id is None:
                continue
            entry = facts.setdefault(event.decision_id, {})
            if event.type == EventType.DECISION.value:
                entry.setdefault("created", event.ts)
                entry.setdefault("created_sim", now)
                continue
            status = str(event.payload.get("to"))
            entry.setdefault(status, event.ts)
            entry.setdefault(f"{status}_sim", now)
            if status == "awaiting_approval":
                mr_id = event.payload.get("detail", {}).get("mr_id") or _mr_of(mrs, event.decision_id)
                if mr_id is not None:
                    waiting[int(mr_id)] = now


def _mr_of(mrs: MergeRequestRepository, decision_id: str) -> int | None:
    found = mrs.list(decision_id=decision_id, limit=1)
    return found[0].id if found else None


def _all_runs(runs: PipelineRepository) -> list[PipelineRun]:
    out: list[PipelineRun] = []
    while True:
        page = runs.list_runs(limit=1000, offset=len(out))
        out.extend(page)
        if len(page) < 1000:
            return out


# --- figures --------------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _secs(entry: dict[str, object], a: str, b: str) -> float | None:
    start, end = entry.get(a), entry.get(b)
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return (end - start).total_seconds()


def report(result: Result, floor_med: float) -> dict[str, object]:
    v = result.variant
    print(f"\n=== {v.name}: {len(v.services)} services, one sample per {v.interval_s:.0f} s simulated, ")
    print(
        f"    {result.ticks} ticks ({result.ticks * v.interval_s / 86400:.1f} days), "
        f"{result.cycles} engine cycles, scenarios: {len(v.scenarios)}; wall {result.wall_s:.0f} s"
    )
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    stages: dict[str, list[float]] = {}
    for run in result.runs:
        policy = run.policy_result or {}
        outcome = str(policy.get("outcome", f"no policy result (run {run.status.value})"))
        outcomes[outcome] += 1
        if outcome != "auto_approve":
            for reason in policy.get("reasons", []):
                reasons[str(reason).split(":", 1)[0]] += 1
        if policy.get("override"):
            per_kind["emergency override"] += 1
        for stage in run.stages:
            if stage.status.value == "success" and stage.duration_s is not None:
                stages.setdefault(stage.name.value, []).append(stage.duration_s)
    judged = sum(n for k, n in outcomes.items() if k in ("auto_approve", "manual_review", "deny"))
    print(f"  decisions stored: {len(result.decisions)}; pipeline runs: {len(result.runs)}")
    for outcome, n in outcomes.most_common():
        share = (
            f"{100 * n / judged:.0f} %"
            if judged and outcome in ("auto_approve", "manual_review", "deny")
            else "-"
        )
        print(f"    {outcome:<16} {n:>4}  {share}")
    if per_kind:
        print(f"    (of which auto-approved by an emergency override: {per_kind['emergency override']})")
    print(f"  manual-review reason codes: {dict(reasons.most_common()) or '-'}")
    _print_decisions(result)
    print(f"  reviews by the simulated person: {result.reviews}; final statuses: {dict(result.final_status)}")
    if result.cycle_errors:
        print(f"  cycle errors ({len(result.cycle_errors)}): {result.cycle_errors[:3]}")

    auto_ids = _decisions_with(result, "auto_approve")
    auto = [t for d in auto_ids if (t := _secs(result.decisions[d], "created", "applied")) is not None]
    manual = []
    waits = []
    for d in _decisions_with(result, "manual_review"):
        entry = result.decisions[d]
        total, human = _secs(entry, "created", "applied"), _secs(entry, "awaiting_approval", "approved")
        if total is not None and human is not None:
            manual.append(total - human)
            sim_wait = _secs(entry, "awaiting_approval_sim", "approved_sim")
            if sim_wait is not None:
                waits.append(sim_wait / 60)
    applied = [d for d, e in result.decisions.items() if "applied" in e]
    applied_auto = [d for d in auto_ids if d in applied]
    if applied:
        print(
            f"  changes applied: {len(applied)}, of which without a person {len(applied_auto)} "
            f"({100 * len(applied_auto) / len(applied):.0f} %), after a person's approval "
            f"{len(applied) - len(applied_auto)}"
        )
    figures: dict[str, object] = {"variant": v.name, "outcomes": dict(outcomes), "reasons": dict(reasons)}
    if auto:
        med = statistics.median(auto)
        sim_lag = [
            t for d in auto_ids if (t := _secs(result.decisions[d], "created_sim", "applied_sim")) is not None
        ]
        print(
            f"  decision -> applied, auto-approved ({len(auto)}): median {med:.2f} s, p90 "
            f"{_pct(auto, 0.9):.2f} s wall; simulated: median {statistics.median(sim_lag):.0f} s "
            f"(applied within the engine cycle that decided)"
        )
        print(f"  ratio median decision->applied / bare terraform init+plan+apply: {med / floor_med:.1f}x")
        figures |= {"auto_median_s": med, "auto_p90_s": _pct(auto, 0.9), "ratio": med / floor_med}
    if manual:
        print(
            f"  decision -> applied, manual review ({len(manual)}), machine time without the person: "
            f"median {statistics.median(manual):.2f} s, p90 {_pct(manual, 0.9):.2f} s; "
            f"simulated review wait median {statistics.median(waits):.0f} min"
        )
    verified = [
        t
        for d in result.decisions
        if (t := _secs(result.decisions[d], "applied_sim", "verified_sim")) is not None
    ]
    if verified:
        print(f"  applied -> verified, simulated: median {statistics.median(verified) / 60:.0f} min")
    print("  pipeline stage durations (successful stages), median [p90]:")
    for name in ("validate", "policy", "plan", "apply", "notify"):
        values = stages.get(name)
        if values:
            print(
                f"    {name:<9} {statistics.median(values):.2f} s "
                f"[{_pct(values, 0.9):.2f} s]  n={len(values)}"
            )
    return figures


def _print_decisions(result: Result, limit: int = 30) -> None:
    """One line per pipeline run: what the gate judged (first ``limit``)."""
    print("  runs: decided at (sim), service, emergency, move, confidence, cost delta, outcome, reasons, end")
    for run in sorted(result.runs, key=lambda r: r.id)[:limit]:
        policy = run.policy_result or {}
        inp = policy.get("input", {})
        d = inp.get("decision", {})
        move = f"{d.get('from', {}).get('provider')}/{d.get('from', {}).get('region')} -> "
        move += f"{d.get('to', {}).get('provider')}/{d.get('to', {}).get('region')}"
        codes = sorted({str(r).split(":", 1)[0] for r in policy.get("reasons", [])})
        decision_id = str(d.get("decision_id"))
        created = result.decisions.get(decision_id, {}).get("created_sim")
        when = f"d{(created - T0).days}+{created:%H:%M}" if isinstance(created, datetime) else "?"
        print(
            f"    {when} {d.get('service', '?'):<18} {'E' if d.get('emergency') else '-'} {move:<42} "
            f"{float(d.get('confidence', 0)):.3f} {float(inp.get('cost_delta_pct', 0)):+7.1f} %  "
            f"{policy.get('outcome', run.status.value):<13} {','.join(codes)} "
            f"-> {result.status_of.get(decision_id, '?')}"
        )


def _decisions_with(result: Result, outcome: str) -> list[str]:
    """Decisions whose first policy result was ``outcome`` (the gate's input names the decision)."""
    out: list[str] = []
    seen: set[str] = set()
    for run in sorted(result.runs, key=lambda r: r.id):
        policy = run.policy_result or {}
        decision = str(policy.get("input", {}).get("decision", {}).get("decision_id") or "")
        if not decision or decision in seen:
            continue
        seen.add(decision)
        if policy.get("outcome") == outcome and decision in result.decisions:
            out.append(decision)
    return out


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--interval", type=float, default=60.0, help="simulated s per tick (default fleet)")
    parser.add_argument("--ticks-per-cycle", type=int, default=1)
    parser.add_argument("--copies", type=int, default=5, help="scaled variant: fleet copies (-001..)")
    parser.add_argument("--scaled-interval", type=float, default=300.0, help="simulated s per tick (scaled)")
    parser.add_argument("--review-delay-min", type=float, default=60.0)
    parser.add_argument(
        "--no-scenarios", action="store_true", help="default fleet without the example scenarios (day 3)"
    )
    parser.add_argument("--variants", default="default", help="default, scaled, or default,scaled")
    parser.add_argument("--floor-runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")

    catalog = load_catalog()
    fleet = load_fleet_file(None, catalog)
    base = list(fleet.services)
    scenarios: list[Scenario] = []
    if not args.no_scenarios:
        day3 = 3 * 86400.0
        scenarios = [
            s.model_copy(update={"start_offset_s": s.start_offset_s + day3})
            for s in load_scenario_file(EXAMPLE_SCENARIOS, catalog)
        ]
    variants = []
    wanted = set(args.variants.split(","))
    if "default" in wanted:
        variants.append(Variant("default", base, load_credit_ledger().grants, args.interval, scenarios))
    if "scaled" in wanted:
        tfvars = scaled_tfvars((locate_template().tfvars).read_text(encoding="utf-8"), args.copies)
        services = scaled_services(base, args.copies)
        assert set(read_placements(tfvars)) == {s.name for s in services}
        variants.append(
            Variant(
                f"scaled-x{args.copies}",
                services,
                load_credit_ledger().grants,
                args.scaled_interval,
                [],
                tfvars,
            )
        )

    floors_home = Path(tempfile.mkdtemp(prefix="swen-gitops-week-floor-"))
    try:
        floors = [
            floor_s(floors_home / f"f{i}", "service-2", "alibaba/us-west-1") for i in range(args.floor_runs)
        ]
    finally:
        shutil.rmtree(floors_home, ignore_errors=True)
    floor_med = statistics.median(floors)
    print(
        f"baseline: terraform init + plan + apply of one placement change, median of {len(floors)}: "
        f"{floor_med:.2f} s"
    )

    for variant in variants:
        result = run_variant(variant, args.days, args.ticks_per_cycle, args.review_delay_min)
        report(result, floor_med)
    print(
        f"\nwhole bench wall time: {time.perf_counter() - started:.0f} s; "
        f"load average at end: {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
