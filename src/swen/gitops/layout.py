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
    extra_roots: tuple[str, ...] = ()
    """More roots planned and applied after ``root``, reading the same placement file; ``root`` alone
    gives the applied placements (its output ``placements``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> InfraLayout:
        return cls(
            root=settings.terraform_root,
            placements_file=settings.placements_file,
            variable=settings.placements_variable,
            branch_prefix=settings.branch_prefix,
            extra_roots=settings.terraform_extra_roots,
        )

    @property
    def roots(self) -> tuple[str, ...]:
        """Every root SWEN plans and applies, ``root`` first."""
        return (self.root, *self.extra_roots)

    @property
    def fmt_dir(self) -> str:
        """What ``terraform fmt -check -recursive`` checks: the deepest folder holding both the root and
        the placement file (``infra`` for the template; ``.`` for envs/prod + vars/prod.tfvars)."""
        folders = [*self.roots, posixpath.dirname(self.placements_file) or "."]
        return posixpath.commonpath(folders) or "."

    @property
    def is_default(self) -> bool:
        return self.root == DEFAULT_ROOT and self.placements_file == TFVARS_PATH

    def state_name(self, root: str | None = None) -> str:
        """The state file's name under $SWEN_HOME/tfstate for ``root`` (default: ``self.root``):
        ``sim.tfstate`` for the template's root (as before), else the root's path with '/' as '-'
        (``envs-prod.tfstate``)."""
        root = root or self.root
        return "sim.tfstate" if root == DEFAULT_ROOT else root.replace("/", "-") + ".tfstate"

    def root_in(self, tree: Path, root: str | None = None) -> Path:
        return tree / (root or self.root)

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
