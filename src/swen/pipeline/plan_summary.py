"""Summarise ``terraform show -json <planfile>`` into what the policy gate and people need.

Only managed resources are kept (data-source reads are not changes). Each change gets one action
(create, update, delete, replace, forget), a ``stateful`` flag (by resource type, or a sim
``terraform_data`` whose input says ``stateful = true``) and the service it belongs to.

Service attribution follows the layout of ``infra/``: a service's resources live either in a module
call whose name has an ``app`` segment (``aws_app``, ``alicloud_app_ap_southeast_1``) and whose
``for_each`` key is the service name (``module.aws_app["service-1"].aws_autoscaling_group.this``), or
in the sim root's ``terraform_data.placement["service-1"]``. Anything else (clusters, networks)
belongs to no service.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from swen.domain.errors import PolicyError

ChangeAction = Literal["create", "update", "delete", "replace", "forget", "no-op", "read"]

STATEFUL_RESOURCE_TYPES: frozenset[str] = frozenset(
    {
        "aws_db_instance",
        "aws_db_cluster_snapshot",
        "aws_rds_cluster",
        "aws_rds_cluster_instance",
        "aws_ebs_volume",
        "aws_volume_attachment",
        "aws_efs_file_system",
        "aws_dynamodb_table",
        "aws_s3_bucket",
        "aws_docdb_cluster",
        "aws_neptune_cluster",
        "aws_redshift_cluster",
        "aws_opensearch_domain",
        "alicloud_db_instance",
        "alicloud_disk",
        "alicloud_ecs_disk",
        "alicloud_kvstore_instance",
        "alicloud_polardb_cluster",
        "alicloud_mongodb_instance",
        "alicloud_nas_file_system",
        "alicloud_oss_bucket",
    }
)
"""Resource types that hold data. Keep in sync with ``stateful_types`` in policies/gate.rego (a test
checks they agree)."""

STATEFUL_TYPE_PREFIXES: tuple[str, ...] = ("aws_elasticache_", "aws_memorydb_")

SIM_PLACEMENT_TYPE = "terraform_data"
APP_MODULE_SEGMENT = "app"
"""A module call whose name has this ``_``-separated segment holds one service per for_each key."""

_INDEX_KEY = re.compile(r'\["([^"\\]*)"\]')


class ResourceChange(BaseModel):
    """One managed resource the plan changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str
    type: str
    actions: tuple[str, ...]
    action: ChangeAction
    stateful: bool
    service: str | None
    """The service this resource belongs to (see the module docstring), None for shared infra."""


class PlanCounts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0
    forget: int = 0
    no_op: int = 0


class PlanSummary(BaseModel):
    """What a plan changes: the changed resources (no-ops are only counted) and counts per action."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_changes: tuple[ResourceChange, ...]
    counts: PlanCounts
    terraform_version: str | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.resource_changes)

    def stateful_changes(self) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.resource_changes if change.stateful)


def is_stateful_type(resource_type: str) -> bool:
    return resource_type in STATEFUL_RESOURCE_TYPES or resource_type.startswith(STATEFUL_TYPE_PREFIXES)


def classify_actions(actions: tuple[str, ...]) -> ChangeAction:
    """Map Terraform's action list to one action (``["delete", "create"]`` is a replace)."""
    if set(actions) == {"delete", "create"}:
        return "replace"
    if len(actions) == 1 and actions[0] in ("create", "update", "delete", "forget", "no-op", "read"):
        return actions[0]  # type: ignore[return-value]
    raise PolicyError(
        f"unknown Terraform action list {list(actions)!r} in the plan",
        hint="update swen.pipeline.plan_summary for this Terraform version",
        stage="policy",
    )


def _sim_input_stateful(change: Mapping[str, Any]) -> bool:
    for side in ("before", "after"):
        values = change.get(side)
        if isinstance(values, Mapping):
            sim_input = values.get("input")
            if isinstance(sim_input, Mapping) and sim_input.get("stateful") is True:
                return True
    return False


def _service_of(raw: Mapping[str, Any]) -> str | None:
    module_address = raw.get("module_address")
    if isinstance(module_address, str) and module_address:
        # The outermost module call decides: module.<name>["<key>"]...
        first = module_address.split(".module.")[0]
        name = first.removeprefix("module.").split("[", 1)[0]
        key = _INDEX_KEY.search(first)
        return key.group(1) if key and APP_MODULE_SEGMENT in name.split("_") else None
    index = raw.get("index")
    if raw.get("type") == SIM_PLACEMENT_TYPE and raw.get("name") == "placement" and isinstance(index, str):
        return index
    return None


def _resource_change(raw: Mapping[str, Any]) -> ResourceChange:
    change = raw.get("change")
    address, rtype = raw.get("address"), raw.get("type")
    if not isinstance(change, Mapping) or not isinstance(address, str) or not isinstance(rtype, str):
        raise PolicyError(
            "a resource change in the plan has no address, type or change",
            hint="pass the output of `terraform show -json <planfile>`",
            stage="policy",
        )
    actions = tuple(str(a) for a in change.get("actions", ()))
    stateful = is_stateful_type(rtype) or (rtype == SIM_PLACEMENT_TYPE and _sim_input_stateful(change))
    return ResourceChange(
        address=address,
        type=rtype,
        actions=actions,
        action=classify_actions(actions),
        stateful=stateful,
        service=_service_of(raw),
    )


def summarise_plan(show_json: Mapping[str, Any]) -> PlanSummary:
    """Summarise the JSON of ``terraform show -json <planfile>``."""
    if not isinstance(show_json, Mapping) or "format_version" not in show_json:
        raise PolicyError(
            "this is not the JSON of a Terraform plan (no format_version)",
            hint="pass the output of `terraform show -json <planfile>`",
            stage="policy",
        )
    raw_changes = show_json.get("resource_changes") or []
    if not isinstance(raw_changes, list):
        raise PolicyError("resource_changes in the plan JSON is not a list", stage="policy")
    if not all(isinstance(raw, Mapping) for raw in raw_changes):
        raise PolicyError("an entry of resource_changes in the plan JSON is not an object", stage="policy")
    managed = [_resource_change(raw) for raw in raw_changes if raw.get("mode", "managed") == "managed"]
    tally = Counter(change.action for change in managed)
    counts = PlanCounts(
        create=tally["create"],
        update=tally["update"],
        delete=tally["delete"],
        replace=tally["replace"],
        forget=tally["forget"],
        no_op=tally["no-op"],
    )
    version = show_json.get("terraform_version")
    return PlanSummary(
        resource_changes=tuple(c for c in managed if c.action not in ("no-op", "read")),
        counts=counts,
        terraform_version=version if isinstance(version, str) else None,
    )
