"""Real terraform against the offline sim root; the production HCL parsed and format-checked."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from swen.domain.errors import PipelineError
from swen.domain.models import Placement
from swen.pipeline.plan_summary import summarise_plan
from swen.pipeline.policy import DecisionSummary, PolicyGate, PolicyInput
from swen.pipeline.terraform import TerraformError, TerraformRunner, first_error, is_transient

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")


def copy_infra(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "*.tfplan")
    shutil.copytree(INFRA, dest / "infra", ignore=ignore)
    return dest / "infra"


def move(tfvars: Path, service: str, provider: str, region: str, instance_type: str) -> None:
    """Edit one entry the way the GitOps committer does (only that entry's values change)."""
    text = tfvars.read_text()
    entry = re.search(rf"^  {re.escape(service)} = \{{\n(.*?)^  \}}", text, re.MULTILINE | re.DOTALL)
    assert entry, f"no entry for {service}"
    body = entry.group(1)
    body = re.sub(r'(provider\s*=\s*)"[^"]*"', rf'\g<1>"{provider}"', body)
    body = re.sub(r'(region\s*=\s*)"[^"]*"', rf'\g<1>"{region}"', body)
    body = re.sub(r'(instance_type\s*=\s*)"[^"]*"', rf'\g<1>"{instance_type}"', body)
    tfvars.write_text(text[: entry.start(1)] + body + text[entry.end(1) :])


def tfvars_placements(tfvars: Path) -> dict[str, dict[str, Any]]:
    parsed = hcl2.loads(tfvars.read_text())
    return {k.strip('"'): v for k, v in parsed["service_placement"].items()}


@pytest.fixture(scope="module")
def applied_sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[TerraformRunner, Path]:
    """A temp copy of infra/ with the sim root initialised and the default placement applied."""
    infra = copy_infra(tmp_path_factory.mktemp("tf"))
    runner = TerraformRunner(infra / "envs" / "sim", var_files=[infra / "terraform.tfvars"], fmt_dir=infra)
    runner.init()
    runner.validate()
    plan = infra / "first.tfplan"
    runner.plan(plan)
    runner.apply(plan)
    yield runner, infra
    runner.close()


def test_whole_infra_tree_is_terraform_fmt_clean(tmp_path: Path) -> None:
    runner = TerraformRunner(INFRA / "envs" / "sim", fmt_dir=INFRA)
    try:
        result = runner.fmt_check()
    finally:
        runner.close()
    assert result.ok
    assert result.duration_s >= 0


def test_fmt_check_names_unformatted_files(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    bad = infra / "envs" / "sim" / "bad.tf"
    bad.write_text('locals {\nx="y"\n}\n')
    with TerraformRunner(infra / "envs" / "sim", fmt_dir=infra) as runner:
        with pytest.raises(TerraformError) as info:
            runner.fmt_check()
        assert "bad.tf" in info.value.message
        assert info.value.stage == "validate" and not info.value.transient
        assert runner.fmt_check(check=False).ok is False


def test_default_placement_is_applied_and_output(applied_sim: tuple[TerraformRunner, Path]) -> None:
    runner, infra = applied_sim
    expected = {
        name: Placement(provider=p["provider"], region=p["region"])
        for name, p in tfvars_placements(infra / "terraform.tfvars").items()
    }
    assert runner.applied_placements() == expected
    assert expected["service-1"] == Placement(provider="aws", region="us-east-1")
    assert expected["service-3"] == Placement(provider="alibaba", region="ap-southeast-1")


def test_moving_one_service_plans_exactly_that_change(applied_sim: tuple[TerraformRunner, Path]) -> None:
    runner, infra = applied_sim
    move(infra / "terraform.tfvars", "service-2", "alibaba", "ap-southeast-1", "ecs.g7.xlarge")
    plan = infra / "move.tfplan"
    runner.plan(plan)
    show = runner.show_json(plan)
    summary = summarise_plan(show)

    assert [(c.address, c.action, c.service) for c in summary.resource_changes] == [
        ('terraform_data.placement["service-2"]', "replace", "service-2")
    ]
    assert (summary.counts.replace, summary.counts.create, summary.counts.delete) == (1, 0, 0)
    assert summary.counts.no_op == len(tfvars_placements(infra / "terraform.tfvars")) - 1

    gate = PolicyGate()
    decision = DecisionSummary(
        service="service-2",
        stateful=False,
        confidence=0.9,
        **{"from": {"provider": "aws", "region": "us-east-1"}},
        to={"provider": "alibaba", "region": "ap-southeast-1"},
    )
    result = gate.evaluate(PolicyInput(decision=decision, cost_delta_pct=-12.0, plan=summary))
    assert result.outcome == "auto_approve", result.reasons

    runner.apply(plan)
    placements = runner.applied_placements()
    assert placements["service-2"] == Placement(provider="alibaba", region="ap-southeast-1")
    assert placements["service-1"] == Placement(provider="aws", region="us-east-1")
    services = runner.output_json()["services"]
    assert services["service-2"]["instance_type"] == "ecs.g7.xlarge"

    # Applied: a new plan has nothing to do.
    again = infra / "again.tfplan"
    runner.plan(again)
    assert not summarise_plan(runner.show_json(again)).has_changes


def test_stateful_flag_reaches_the_plan(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    tfvars = infra / "terraform.tfvars"
    # Mark service-3 stateful (the flag the telemetry fleet gives a service with data).
    entry = re.search(r"^  service-3 = \{\n.*?^  \}", tfvars.read_text(), re.MULTILINE | re.DOTALL)
    assert entry
    marked = entry.group(0).replace("stateful      = false", "stateful      = true")
    tfvars.write_text(tfvars.read_text().replace(entry.group(0), marked))
    text = tfvars.read_text()
    stateful_service = "service-3"
    with TerraformRunner(infra / "envs" / "sim", var_files=[tfvars]) as runner:
        runner.init()
        plan = tmp_path / "p.tfplan"
        runner.plan(plan)
        summary = summarise_plan(runner.show_json(plan))
    flagged = {c.service for c in summary.resource_changes if c.stateful}
    assert flagged == {n for n, p in tfvars_placements(tfvars).items() if p["stateful"]}
    assert stateful_service in flagged
    assert tfvars.read_text() == text


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('provider      = "alibaba"', 'provider      = "gcp"', "provider"),
        ('region        = "ap-southeast-1"', 'region        = "mars-1"', "region"),
        ('instance_type = "ecs.c7.2xlarge"', 'instance_type = "ecs c7;rm"', "instance_type"),
    ],
)
def test_invalid_placement_fails_the_plan_with_terraforms_message(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    infra = copy_infra(tmp_path)
    tfvars = infra / "terraform.tfvars"
    text = tfvars.read_text()
    assert old in text
    tfvars.write_text(text.replace(old, new, 1))
    with TerraformRunner(infra / "envs" / "sim", var_files=[tfvars]) as runner:
        runner.init()
        with pytest.raises(TerraformError) as info:
            runner.plan(tmp_path / "p.tfplan")
    assert info.value.stage == "plan" and not info.value.transient
    assert "Invalid value for variable" in info.value.message
    assert message in info.value.log


def test_runner_uses_its_own_empty_cli_config(tmp_path: Path) -> None:
    with TerraformRunner(INFRA / "envs" / "sim") as runner:
        env = runner.environment()
        config = Path(env["TF_CLI_CONFIG_FILE"])
        assert config.is_file() and config.read_text().startswith("#")
        assert env["TF_IN_AUTOMATION"] == "1" and env["CHECKPOINT_DISABLE"] == "1"
        out = runner.validate(check=False)  # not initialised: fails, but never about the CLI config
        assert "CLI configuration" not in out.log
    assert not config.exists()


def test_missing_binary_and_missing_paths_are_pipeline_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="not a directory"):
        TerraformRunner(tmp_path / "nope")
    with pytest.raises(PipelineError, match="does not exist"):
        TerraformRunner(INFRA / "envs" / "sim", var_files=[tmp_path / "missing.tfvars"])
    with (
        TerraformRunner(INFRA / "envs" / "sim", binary="terraform-that-does-not-exist") as runner,
        pytest.raises(TerraformError, match="not found"),
    ):
        runner.validate()


def test_state_lock_is_a_transient_error(applied_sim: tuple[TerraformRunner, Path], tmp_path: Path) -> None:
    runner, infra = applied_sim
    # Hold the local state lock the way a running terraform does (an fcntl lock on the state file).
    import fcntl

    state = infra / "envs" / "sim" / "terraform.tfstate"
    with state.open("r+") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(TerraformError) as info:
            runner.plan(tmp_path / "locked.tfplan")
    assert info.value.transient
    assert "lock" in info.value.log.lower()


@pytest.mark.parametrize(
    ("log", "transient"),
    [
        ("Error: Error acquiring the state lock\n\nLock Info: ...", True),
        ("Error: Failed to query available provider packages", True),
        ("dial tcp: lookup registry.terraform.io: no such host", True),
        ("Error: Invalid value for variable", False),
        ("Error: Unsupported argument", False),
    ],
)
def test_transient_classification(log: str, transient: bool) -> None:
    assert is_transient(log) is transient
    assert first_error(log) in (None, log.split("Error: ", 1)[-1].splitlines()[0])


# --- the production root: real HCL, parsed (no provider can be downloaded here) --------------------
def parse_dir(path: Path) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for tf in sorted(path.glob("*.tf")):
        for key, value in hcl2.loads(tf.read_text()).items():
            merged.setdefault(key, []).extend(value)
    return merged


def test_prod_root_declares_an_encrypted_locked_s3_backend() -> None:
    prod = parse_dir(INFRA / "envs" / "prod")
    backends = [b for block in prod["terraform"] for b in block.get("backend", [])]
    assert len(backends) == 1
    s3 = backends[0]["s3"]
    assert s3["encrypt"] is True
    assert s3.get("dynamodb_table") or s3.get("use_lockfile") is True
    providers = {
        name: spec["source"]
        for block in prod["terraform"]
        for required in block.get("required_providers", [])
        for name, spec in required.items()
    }
    assert providers == {"aws": "hashicorp/aws", "alicloud": "aliyun/alicloud"}


def test_oss_backend_variant_is_encrypted_and_locked() -> None:
    oss_root = parse_dir(INFRA / "backends" / "oss")
    (backend,) = [b for block in oss_root["terraform"] for b in block.get("backend", [])]
    assert backend["oss"]["encrypt"] is True
    assert backend["oss"]["tablestore_table"]


def test_prod_root_places_every_service_from_the_same_variable() -> None:
    prod = parse_dir(INFRA / "envs" / "prod")
    sim = parse_dir(INFRA / "envs" / "sim")

    def variable_type(root: dict[str, list[Any]]) -> str:
        (var,) = [v["service_placement"] for v in root["variable"] if "service_placement" in v]
        return str(var["type"])

    assert variable_type(prod) == variable_type(sim)
    modules = {name: body for block in prod["module"] for name, body in block.items()}
    app_modules = {name: body for name, body in modules.items() if "app" in name.split("_")}
    assert "aws_app" in app_modules
    alicloud_regions = {name.removeprefix("alicloud_app_") for name in app_modules if name != "aws_app"}
    assert alicloud_regions == {"ap_southeast_1", "ap_northeast_1", "eu_central_1", "us_west_1"}
    for name, body in app_modules.items():
        assert "for_each" in body, name
        assert re.search(r"module\.placement|local\.alicloud_apps", str(body["for_each"])), name
        assert "each.key" in str(body["service"]), name
    cluster_modules = [name for name in modules if "cluster" in name.split("_")]
    assert len(cluster_modules) == 5  # one AWS call (for_each over regions) + one per Alibaba region
    outputs = {name for block in prod["output"] for name in block}
    assert "placements" in outputs


@pytest.mark.parametrize(
    ("module", "required_types"),
    [
        ("aws/cluster", {"aws_vpc", "aws_subnet", "aws_security_group", "aws_internet_gateway"}),
        ("aws/app", {"aws_launch_template", "aws_autoscaling_group", "aws_cloudwatch_metric_alarm"}),
        ("alicloud/cluster", {"alicloud_vpc", "alicloud_vswitch", "alicloud_security_group"}),
        (
            "alicloud/app",
            {
                "alicloud_ess_scaling_group",
                "alicloud_ess_scaling_configuration",
                "alicloud_cms_group_metric_rule",
            },
        ),
    ],
)
def test_provider_modules_declare_their_resources(module: str, required_types: set[str]) -> None:
    parsed = parse_dir(INFRA / "modules" / module)
    declared = {rtype for block in parsed.get("resource", []) for rtype in block}
    assert required_types <= declared


def test_sim_root_inits_without_network(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    with TerraformRunner(infra / "envs" / "sim") as runner:
        out = runner.init()
    assert out.ok and "registry.terraform.io" not in out.log
    lock = infra / "envs" / "sim" / ".terraform.lock.hcl"
    assert not lock.exists()  # no provider was needed


def test_default_tfvars_mirror_the_packaged_fleet() -> None:
    from swen.telemetry.catalog import load_catalog
    from swen.telemetry.fleet import load_fleet

    catalog = load_catalog()
    placements = tfvars_placements(INFRA / "terraform.tfvars")
    fleet = {service.name: service for service in load_fleet()}
    assert list(placements) == list(fleet)
    for name, service in fleet.items():
        entry = placements[name]
        offer = catalog.best_offer(service.shape, service.fleet_placement)
        assert offer is not None, name
        assert (entry["provider"], entry["region"]) == (
            service.fleet_placement.provider,
            service.fleet_placement.region,
        ), name
        assert entry["instance_type"] == offer.instance_type, name
        assert entry["gpu_count"] == service.shape.gpu_count, name
        assert entry["stateful"] is service.stateful, name
        assert entry["replicas"] == service.replicas, name


def test_tfvars_keeps_one_commented_entry_per_service() -> None:
    text = (INFRA / "terraform.tfvars").read_text()
    entries = re.findall(r"^  # .+\n  ([a-z][a-z0-9-]*) = \{\n((?:    .+\n){6})  \}$", text, re.MULTILINE)
    assert [name for name, _ in entries] == list(tfvars_placements(INFRA / "terraform.tfvars"))
    for _, body in entries:
        keys = [line.split("=")[0].strip() for line in body.splitlines()]
        assert keys == ["provider", "region", "instance_type", "gpu_count", "stateful", "replicas"]


def test_gitops_tfvars_editor_moves_exactly_one_service_in_the_sim(tmp_path: Path) -> None:
    from swen.gitops.tfvars import edit_placement, read_placements

    infra = copy_infra(tmp_path)
    tfvars = infra / "terraform.tfvars"
    with TerraformRunner(infra / "envs" / "sim", var_files=[tfvars]) as runner:
        runner.init()
        first = tmp_path / "first.tfplan"
        runner.plan(first)
        runner.apply(first)
        old = tfvars.read_text()
        tfvars.write_text(edit_placement(old, "inference-a10g", "aws", "us-west-2", "g5.xlarge"))
        assert read_placements(tfvars.read_text())["inference-a10g"].region == "us-west-2"
        moved = tmp_path / "moved.tfplan"
        runner.plan(moved)
        summary = summarise_plan(runner.show_json(moved))
        assert [(c.service, c.action) for c in summary.resource_changes] == [("inference-a10g", "replace")]
        runner.apply(moved)
        assert runner.applied_placements()["inference-a10g"] == Placement(provider="aws", region="us-west-2")
