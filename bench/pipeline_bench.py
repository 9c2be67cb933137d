"""Pipeline benchmark: one auto-approved move through validate -> policy -> plan -> apply -> notify.

Measures in one run, on a fresh infra repository (``init_infra_repo``), real git, real terraform (sim
root) and SQLite, for ``--runs`` moves of different services:
  (a) the whole ``PipelineRunner.run`` and each stage's stored duration (median);
  (b) the floor: the terraform work alone in one directory, ``init`` + ``plan -out`` + ``apply`` of the
      same kind of change (what any pipeline must at least do);
Prints the figures and the (a)/(b) ratio: the price of clean worktrees, the speculative policy plan,
the plan check, the merge/push and the bookkeeping.

    .venv/bin/python bench/pipeline_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from swen.config import Settings
from swen.domain.decision import Confidence, Decision, DecisionAction, FactorScores, ProviderScore, Savings
from swen.domain.models import Placement, Weights
from swen.gitops.repo import InfraRepo, init_infra_repo
from swen.gitops.template import TFVARS_PATH
from swen.gitops.tfvars import edit_placement
from swen.moves.driver import MoveDriver
from swen.pipeline.stages import SIM_ROOT
from swen.pipeline.terraform import TerraformRunner
from swen.store.repository import Store

MOVES = [
    ("service-1", "aws/us-east-1", "alibaba/ap-southeast-1", "m5.large", "ecs.g7.large"),
    ("service-2", "aws/us-east-1", "aws/us-west-2", "m5.2xlarge", "m5.2xlarge"),
    ("analytics-api", "aws/us-east-1", "alibaba/us-west-1", "m5.xlarge", "ecs.g7.xlarge"),
    ("search-api", "aws/eu-west-1", "alibaba/eu-central-1", "m5.xlarge", "ecs.g7.xlarge"),
]


def _decision(i: int, service: str, current: str, target: str, cur_type: str, tgt_type: str) -> Decision:
    cur, tgt = Placement.parse(current), Placement.parse(target)

    def score(p: Placement, rank: int, itype: str, cost: float) -> ProviderScore:
        f = FactorScores(cost=0.8, latency=0.7, credits=0.5, availability=0.9)
        return ProviderScore(
            placement=p,
            rank=rank,
            factors=f,
            contributions=f,
            total=0.7,
            monthly_cost_usd=cost,
            latency_ms=40,
            credits_usd=0,
            availability=0.999,
            gpu_availability=1,
            instance_type=itype,
            is_current=rank == 2,
        )

    return Decision(
        id=f"bench-{i}",
        service=service,
        created_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC) + timedelta(minutes=i),
        action=DecisionAction.MIGRATE,
        current=cur,
        target=tgt,
        ranking=(score(tgt, 1, tgt_type, 100.0), score(cur, 2, cur_type, 130.0)),
        excluded=(),
        confidence=Confidence(
            value=0.93,
            margin=0.1,
            margin_term=0.8,
            stability=1,
            stability_cycles=10,
            stability_window=10,
            freshness=1,
        ),
        savings=Savings(
            current_monthly_usd=130,
            target_monthly_usd=100,
            gross_monthly_usd=30,
            credits_offset_monthly_usd=0,
            migration_cost_usd=5,
            amortisation_months=6,
            net_monthly_usd=29,
            cost_delta_pct=-23.1,
        ),
        weights=Weights(),
        explanation="benchmark move",
    )


def floor_s(home: Path, service: str, target: str) -> float:
    """terraform init + plan -out + apply of one move, in one directory, nothing else."""
    work = home / "floor"
    shutil.copytree(
        Path(__file__).parents[1] / "infra",
        work / "infra",
        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"),
    )
    tfvars = work / TFVARS_PATH
    with TerraformRunner(work / SIM_ROOT, var_files=[tfvars]) as tf:
        tf.init()
        tf.plan(work / "base.tfplan")
        tf.apply(work / "base.tfplan")
        provider, region = target.split("/")
        tfvars.write_text(edit_placement(tfvars.read_text(), service, provider, region))
        start = time.perf_counter()
        tf.init()
        tf.plan(work / "move.tfplan")
        tf.apply(work / "move.tfplan")
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, choices=range(1, len(MOVES) + 1))
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="swen-pipeline-bench-"))
    try:
        settings = Settings(home=home / "home")
        init_infra_repo(settings)
        with Store.open(settings) as store:
            repo = InfraRepo.open(settings)
            driver = MoveDriver(settings, store, repo=repo)
            committer, runner = driver.committer, driver.runner
            driver.sync()
            totals: list[float] = []
            stages: dict[str, list[float]] = {}
            for i, move in enumerate(MOVES[: args.runs]):
                mr = committer.propose(_decision(i, *move))
                start = time.perf_counter()
                run = runner.run(mr.id).run
                totals.append(time.perf_counter() - start)
                assert run.status.value == "success", run.status
                for stage in run.stages:
                    stages.setdefault(stage.name.value, []).append(stage.duration_s or 0.0)
        floors = [floor_s(home / f"f{i}", move[0], move[2]) for i, move in enumerate(MOVES[: args.runs])]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    run_med, floor_med = statistics.median(totals), statistics.median(floors)
    print(f"pipeline run (validate..notify), median of {len(totals)}: {run_med:.2f} s")
    for name, values in stages.items():
        spread = f"(min {min(values):.2f}, max {max(values):.2f})"
        print(f"  {name:<9} median {statistics.median(values):.2f} s  {spread}")
    print(f"floor: terraform init + plan + apply of the same move, median: {floor_med:.2f} s")
    print(f"ratio pipeline / floor: {run_med / floor_med:.1f}x")


if __name__ == "__main__":
    main()
