"""Where things are in the team's infra repository: the settings' view that gitops and the pipeline use.

The shipped template is the embedded default (root ``infra/envs/sim``, placement map
``service_placement`` in ``infra/terraform.tfvars``). An adopted repository names its own root, file and
variable in ``swen.yaml`` (``terraform_root``, ``placements_file``, ``placements_variable``); every path
was validated by ``swen.config`` (relative, no ``..``), so joining it to a checkout stays inside it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from swen.config import Settings
from swen.domain.models import Service
from swen.gitops.template import TFVARS_PATH
from swen.gitops.tfvars import PLACEMENT_VARIABLE

DEFAULT_ROOT = "infra/envs/sim"


@dataclass(frozen=True)
class InfraLayout:
    root: str = DEFAULT_ROOT
    """The Terraform root SWEN plans and applies (relative to the repository)."""
    placements_file: str = TFVARS_PATH
    """The tfvars file holding the placement map."""
    variable: str = PLACEMENT_VARIABLE
    """The placement map's variable name."""
    branch_prefix: str = ""
    """Put in front of every SWEN branch name (``swen/`` -> ``swen/ai-rec/...``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> InfraLayout:
        return cls(
            root=settings.terraform_root,
            placements_file=settings.placements_file,
            variable=settings.placements_variable,
            branch_prefix=settings.branch_prefix,
        )

    @property
    def fmt_dir(self) -> str:
        """What ``terraform fmt -check -recursive`` checks: the deepest folder holding both the root and
        the placement file (``infra`` for the template; ``.`` for envs/prod + vars/prod.tfvars)."""
        common = posixpath.commonpath([self.root, posixpath.dirname(self.placements_file) or "."])
        return common or "."

    @property
    def is_default(self) -> bool:
        return self.root == DEFAULT_ROOT and self.placements_file == TFVARS_PATH

    def state_name(self) -> str:
        """The state file's name under $SWEN_HOME/tfstate: ``sim.tfstate`` for the template's root (as
        before), else the root's path with '/' as '-' (``envs-prod.tfstate``)."""
        return "sim.tfstate" if self.root == DEFAULT_ROOT else self.root.replace("/", "-") + ".tfstate"

    def root_in(self, tree: Path) -> Path:
        return tree / self.root

    def placements_in(self, tree: Path) -> Path:
        return tree / self.placements_file


def fleet_services(settings: Settings) -> Callable[[], dict[str, Service]]:
    """The fleet's services by name, read once on first use (the committer adds a missing entry from
    its service's fleet description)."""
    path = settings.fleet_file

    @cache
    def load() -> dict[str, Service]:
        from swen.telemetry.fleet import load_fleet

        return {service.name: service for service in load_fleet(path)}

    return load
