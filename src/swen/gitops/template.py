"""Where the infra repository template comes from.

The template is what ``swen init`` puts into a new infra repository: the repo's ``infra/`` directory
(Terraform envs, modules and ``terraform.tfvars``), ``.gitlab-ci.yml`` and ``policies/``, at the same
relative paths, so the pipeline file works unchanged in both places.

Choice (build-free): SWEN is installed editable from its source checkout, so the template is read from
the checkout root (``src/swen/gitops/template.py`` -> three levels up). A packaged copy is also
honoured: a build step may copy the same items into ``swen/infra_template/`` inside the package, and
that directory wins when it exists. With neither, ``locate_template`` raises a GitOpsError whose hint
says how to fix it (install from a checkout, or point SWEN_INFRA_REPO/SWEN_INFRA_REMOTE at an existing
infra repository, which needs no template).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from swen.domain.errors import ConfigError, GitOpsError
from swen.domain.models import Service
from swen.gitops.tfvars import replace_map

TFVARS_PATH = "infra/terraform.tfvars"
"""Path of terraform.tfvars inside the infra repository (POSIX, relative to its root)."""

TEMPLATE_ITEMS: tuple[str, ...] = ("infra", ".gitlab-ci.yml", "policies")
"""What the template consists of, relative to its root. Only ``infra`` is mandatory."""

_IGNORED = shutil.ignore_patterns(
    ".terraform", "*.tfstate", "*.tfstate.backup", ".terraform.lock.hcl", "terraform.tfstate.d", "__pycache__"
)
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_PACKAGED_TEMPLATE = _PACKAGE_DIR / "infra_template"
_CHECKOUT_ROOT = Path(__file__).resolve().parents[3]

INFRA_GITIGNORE = """\
.terraform/
*.tfstate
*.tfstate.backup
.terraform.lock.hcl
terraform.tfstate.d/
"""


@dataclass(frozen=True)
class Template:
    root: Path
    items: tuple[str, ...]

    @property
    def tfvars(self) -> Path:
        return self.root / TFVARS_PATH


def locate_template(root: Path | None = None) -> Template:
    """Find the template: ``root`` if given, else the packaged copy, else the source checkout."""
    candidates = [root] if root is not None else [_PACKAGED_TEMPLATE, _CHECKOUT_ROOT]
    for candidate in candidates:
        if candidate is not None and (candidate / TFVARS_PATH).is_file():
            items = tuple(item for item in TEMPLATE_ITEMS if (candidate / item).exists())
            return Template(root=candidate, items=items)
    raise GitOpsError(
        f"no infra template found (looked for {TFVARS_PATH} in "
        + ", ".join(str(c) for c in candidates if c is not None)
        + ")",
        hint="install SWEN editable from its source checkout (pip install -e .), or set SWEN_INFRA_REPO "
        "and SWEN_INFRA_REMOTE to an existing infra repository",
    )


def copy_template(template: Template, dest: Path) -> list[str]:
    """Copy the template items into ``dest`` (which must exist); return the copied item names."""
    for item in template.items:
        src = template.root / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=_IGNORED, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / item)
    gitignore = dest / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(INFRA_GITIGNORE, encoding="utf-8")
    return list(template.items)


def fleet_tfvars(
    text: str, services: list[Service], *, fleet_label: str, terraform_bin: str = "terraform"
) -> str:
    """The template's ``terraform.tfvars`` with one entry per fleet service (not the template's own).

    Each entry is where the fleet places the service, on the catalog's cheapest instance type that
    fits its shape there, with its GPU count, stateful flag and replicas (the template's entry format).
    """
    from swen.telemetry.catalog import load_catalog

    catalog = load_catalog()
    entries: list[tuple[str, dict[str, str | int | bool], str]] = []
    for service in services:
        offer = catalog.best_offer(service.shape, service.fleet_placement)
        if offer is None:
            raise ConfigError(
                f"service {service.name}: {catalog.no_offer_reason(service.shape, service.fleet_placement)}",
                hint="place the service (current:) where the catalog has an instance that fits its shape",
                source=fleet_label,
            )
        shape = service.shape
        gpu = f", {shape.gpu_count}x {shape.gpu_model}" if shape.gpu_model else ""
        entries.append(
            (
                service.name,
                {
                    "provider": service.fleet_placement.provider,
                    "region": service.fleet_placement.region,
                    "instance_type": offer.instance_type,
                    "gpu_count": shape.gpu_count,
                    "stateful": service.stateful,
                    "replicas": service.replicas,
                },
                f"{service.name}: {shape.vcpus} vCPU, {shape.memory_gib:g} GiB{gpu} (from the fleet file).",
            )
        )
    return replace_map(text, entries, source=TFVARS_PATH, terraform_bin=terraform_bin)
