"""The placement map follows the fleet: `swen init` writes the fleet's services, and a service added
to the fleet later gets its entry through the merge request of its first move (real git, terraform)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.builders import decision
from support.platform import TEST_TEMPLATE, make_platform
from swen.domain.decision import DecisionStatus
from swen.domain.errors import NotFoundError
from swen.domain.merge_requests import RunStatus
from swen.domain.models import Placement
from swen.gitops.tfvars import edit_placement, read_placements

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform on PATH"),
]

SERVICE = """\
  - name: {name}
    current: aws/us-east-1
    users_region: aws/us-east-1
    shape: {{vcpus: {vcpus}, memory_gib: {memory}}}
    replicas: {replicas}
    latency_slo_ms: 80
    allowed_providers: [aws, alibaba]
"""


def fleet(path: Path, *services: tuple[str, int, int, int]) -> Path:
    path.write_text(
        "services:\n"
        + "".join(SERVICE.format(name=n, vcpus=v, memory=m, replicas=r) for n, v, m, r in services)
    )
    return path


def test_entries_are_added_only_when_asked_and_nothing_else_changes() -> None:
    text = (TEST_TEMPLATE / "infra" / "terraform.tfvars").read_text()
    with pytest.raises(NotFoundError, match=r"no entry in service_placement of infra/terraform\.tfvars"):
        edit_placement(text, "billing-api", "aws", "us-east-2", "m5.large", source="infra/terraform.tfvars")
    edited = edit_placement(
        text, "billing-api", "aws", "us-east-2", "m5.large", new_entry={"stateful": True, "replicas": 3}
    )
    close = text.rstrip().rfind("}")
    assert edited.startswith(text[:close].rstrip())  # every byte before the map's end is kept
    entries = read_placements(edited)
    assert list(entries)[:-1] == list(read_placements(text))
    added = entries["billing-api"]
    assert (added.provider, added.region, added.instance_type, added.stateful) == (
        "aws",
        "us-east-2",
        "m5.large",
        True,
    )
    assert list(added.attributes) == ["provider", "region", "instance_type", "stateful", "replicas"]


def test_init_writes_the_fleets_services_and_a_later_service_gets_its_entry_by_merge_request(
    tmp_path: Path,
) -> None:
    fleet_file = fleet(tmp_path / "fleet.yaml", ("web", 2, 8, 2), ("worker", 8, 16, 1))
    env = make_platform(tmp_path / "home", fleet_file=fleet_file)
    on_main = read_placements(env.main_tfvars())
    assert list(on_main) == ["web", "worker"]  # the fleet's services, not the template's ten
    assert (on_main["web"].instance_type, on_main["web"].attributes["replicas"]) == ("m5.large", 2)
    assert env.store.get_placements() == {
        "web": Placement(provider="aws", region="us-east-1"),
        "worker": Placement(provider="aws", region="us-east-1"),
    }  # terraform applied main as written

    # the team adds a service to the fleet file, as its header invites
    fleet(tmp_path / "fleet.yaml", ("web", 2, 8, 2), ("worker", 8, 16, 1), ("billing-api", 4, 16, 3))
    later = make_platform(tmp_path / "home", fleet_file=fleet_file, sync=False)
    move = decision("d-new", service="billing-api", target_type="ecs.g7.xlarge")
    mr = later.committer.propose(move)
    assert "### New entry" in mr.description and "`billing-api` is in the fleet" in mr.description
    run = later.driver.run(mr.id).run

    assert run.status is RunStatus.SUCCESS, [(s.name, s.status, s.log[-400:]) for s in run.stages]
    assert run.plan_summary is not None and run.plan_summary["counts"]["create"] == 1
    entry = read_placements(later.main_tfvars())["billing-api"]
    assert (entry.provider, entry.region, entry.instance_type) == (
        "alibaba",
        "ap-southeast-1",
        "ecs.g7.xlarge",
    )
    assert {k: entry.attributes[k] for k in ("gpu_count", "stateful", "replicas")} == {
        "gpu_count": 0,
        "stateful": False,
        "replicas": 3,
    }
    assert later.store.get_decision("d-new").status is DecisionStatus.APPLIED
    assert later.store.get_placements()["billing-api"] == Placement(
        provider="alibaba", region="ap-southeast-1"
    )
