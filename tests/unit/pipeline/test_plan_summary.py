"""summarise_plan: actions, stateful flags and service attribution from `terraform show -json`."""

from __future__ import annotations

from typing import Any

import pytest

from swen.domain.errors import PolicyError
from swen.pipeline.plan_summary import classify_actions, is_stateful_type, summarise_plan


def change(address: str, rtype: str, actions: list[str], **extra: Any) -> dict[str, Any]:
    return {"address": address, "mode": "managed", "type": rtype, "change": {"actions": actions}, **extra}


def plan(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": list(changes)}


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (("create",), "create"),
        (("update",), "update"),
        (("delete",), "delete"),
        (("delete", "create"), "replace"),
        (("create", "delete"), "replace"),
        (("no-op",), "no-op"),
        (("read",), "read"),
        (("forget",), "forget"),
    ],
)
def test_classify_actions(actions: tuple[str, ...], expected: str) -> None:
    assert classify_actions(actions) == expected


@pytest.mark.parametrize("actions", [(), ("create", "update"), ("explode",)])
def test_unknown_action_lists_are_refused(actions: tuple[str, ...]) -> None:
    with pytest.raises(PolicyError, match="unknown Terraform action"):
        classify_actions(actions)


@pytest.mark.parametrize(
    ("rtype", "stateful"),
    [
        ("aws_db_instance", True),
        ("aws_rds_cluster", True),
        ("aws_ebs_volume", True),
        ("aws_efs_file_system", True),
        ("aws_elasticache_cluster", True),
        ("aws_elasticache_replication_group", True),
        ("alicloud_db_instance", True),
        ("alicloud_disk", True),
        ("alicloud_kvstore_instance", True),
        ("alicloud_polardb_cluster", True),
        ("alicloud_nas_file_system", True),
        ("aws_autoscaling_group", False),
        ("aws_launch_template", False),
        ("alicloud_ess_scaling_group", False),
        ("terraform_data", False),
    ],
)
def test_stateful_types(rtype: str, stateful: bool) -> None:
    assert is_stateful_type(rtype) is stateful


def test_services_are_attributed_by_app_module_key_or_sim_index() -> None:
    summary = summarise_plan(
        plan(
            change(
                'module.aws_app["service-1"].aws_autoscaling_group.this',
                "aws_autoscaling_group",
                ["delete"],
                module_address='module.aws_app["service-1"]',
            ),
            change(
                'module.alicloud_app_ap_southeast_1["service-1"].alicloud_ess_scaling_group.this',
                "alicloud_ess_scaling_group",
                ["create"],
                module_address='module.alicloud_app_ap_southeast_1["service-1"]',
            ),
            change(
                'module.aws_cluster["us-east-1"].aws_vpc.this',
                "aws_vpc",
                ["update"],
                module_address='module.aws_cluster["us-east-1"]',
            ),
            change(
                "module.alicloud_cluster_us_west_1.alicloud_vpc.this",
                "alicloud_vpc",
                ["update"],
                module_address="module.alicloud_cluster_us_west_1",
            ),
            change(
                'terraform_data.placement["service-3"]',
                "terraform_data",
                ["update"],
                name="placement",
                index="service-3",
            ),
            change("terraform_data.other", "terraform_data", ["update"], name="other"),
        )
    )
    assert [c.service for c in summary.resource_changes] == [
        "service-1",
        "service-1",
        None,
        None,
        "service-3",
        None,
    ]
    assert (summary.counts.create, summary.counts.update, summary.counts.delete) == (1, 4, 1)


def test_sim_stateful_flag_comes_from_the_terraform_data_input() -> None:
    stateful_input = {"input": {"service": "orders-api", "stateful": True}}
    summary = summarise_plan(
        plan(
            change(
                'terraform_data.placement["orders-api"]',
                "terraform_data",
                ["delete", "create"],
                name="placement",
                index="orders-api",
                change={"actions": ["delete", "create"], "before": stateful_input, "after": stateful_input},
            ),
            change(
                'terraform_data.placement["service-1"]',
                "terraform_data",
                ["delete", "create"],
                name="placement",
                index="service-1",
                change={
                    "actions": ["delete", "create"],
                    "before": {"input": {"stateful": False}},
                    "after": None,
                },
            ),
        )
    )
    assert [(c.service, c.stateful, c.action) for c in summary.resource_changes] == [
        ("orders-api", True, "replace"),
        ("service-1", False, "replace"),
    ]
    assert [c.address for c in summary.stateful_changes()] == ['terraform_data.placement["orders-api"]']


def test_no_ops_and_reads_are_counted_not_listed() -> None:
    summary = summarise_plan(
        plan(
            change("terraform_data.a", "terraform_data", ["no-op"]),
            change("data.aws_ami.x", "aws_ami", ["read"], mode="data"),
            change("terraform_data.b", "terraform_data", ["read"]),
        )
    )
    assert summary.resource_changes == ()
    assert summary.counts.no_op == 1
    assert not summary.has_changes


def test_a_plan_without_changes_has_an_empty_summary() -> None:
    summary = summarise_plan({"format_version": "1.2"})
    assert summary.resource_changes == () and summary.terraform_version is None


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"resource_changes": []},
        {"format_version": "1.2", "resource_changes": {"a": 1}},
        {"format_version": "1.2", "resource_changes": ["terraform_data.a"]},
        {"format_version": "1.2", "resource_changes": [{"type": "x", "change": {"actions": ["create"]}}]},
        {"format_version": "1.2", "resource_changes": [{"address": "a", "type": "x"}]},
    ],
)
def test_documents_that_are_not_plans_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        summarise_plan(document)
