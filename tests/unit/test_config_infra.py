"""The infra repository's layout in the settings: every path and name is validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from swen.config import load_settings
from swen.domain.errors import ConfigError
from swen.gitops.layout import InfraLayout


def test_defaults_are_the_template() -> None:
    layout = InfraLayout.from_settings(load_settings())
    assert (layout.root, layout.placements_file, layout.variable, layout.branch_prefix) == (
        "infra/envs/sim",
        "infra/terraform.tfvars",
        "service_placement",
        "",
    )
    assert layout.is_default and layout.fmt_dir == "infra" and layout.state_name() == "sim.tfstate"


def test_a_layout_of_ones_own_from_the_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "swen.yaml"
    config.write_text(
        "terraform_root: envs/prod\n"
        "placements_file: config/prod/placement.tfvars\n"
        "placements_variable: placements\n"
        "branch_prefix: bots/swen/\n"
    )
    monkeypatch.setenv("SWEN_CONFIG", str(config))
    monkeypatch.setenv("SWEN_PLACEMENTS_VARIABLE", "service_map")  # the environment overrides the file
    layout = InfraLayout.from_settings(load_settings())
    assert (layout.root, layout.placements_file, layout.variable, layout.branch_prefix) == (
        "envs/prod",
        "config/prod/placement.tfvars",
        "service_map",
        "bots/swen/",
    )
    assert not layout.is_default and layout.fmt_dir == "." and layout.state_name() == "envs-prod.tfstate"
    assert InfraLayout(root="envs/prod", placements_file="envs/prod/terraform.tfvars").fmt_dir == "envs/prod"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("terraform_root", "../elsewhere", "without '..'"),
        ("terraform_root", "/etc", "not a path inside the infra repository"),
        ("terraform_root", "envs/./prod", "not a path inside the infra repository"),
        ("terraform_root", "envs/prod;rm -rf", "not a path inside the infra repository"),
        ("terraform_root", "", "not a path inside the infra repository"),
        ("placements_file", "envs/prod/main.tf", "must be a .tfvars file"),
        ("placements_file", "envs/../../x.tfvars", "not a path inside the infra repository"),
        ("placements_variable", "service placement", "not a Terraform variable name"),
        ("placements_variable", '${file("/etc/passwd")}', "not a Terraform variable name"),
        ("branch_prefix", "swen", "not a branch prefix"),
        ("branch_prefix", "Swen/", "not a branch prefix"),
        ("branch_prefix", "a/b/c/d/", "not a branch prefix"),
        ("branch_prefix", "../", "not a branch prefix"),
    ],
)
def test_bad_paths_and_names_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(f"SWEN_{name.upper()}", value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert f"setting {name}:" in str(refused.value) and says in str(refused.value)
    assert f"fix SWEN_{name.upper()}" in str(refused.value)


def test_extra_roots_are_distinct_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEN_TERRAFORM_ROOT", "envs/prod")
    monkeypatch.setenv("SWEN_TERRAFORM_EXTRA_ROOTS", '["envs/dr"]')
    layout = InfraLayout.from_settings(load_settings())
    assert layout.roots == ("envs/prod", "envs/dr") and layout.fmt_dir == "."
    assert layout.state_name("envs/dr") == "envs-dr.tfstate"
    monkeypatch.setenv("SWEN_TERRAFORM_EXTRA_ROOTS", '["envs/prod"]')
    with pytest.raises(ConfigError, match="name a root twice"):
        load_settings()
    monkeypatch.setenv("SWEN_TERRAFORM_EXTRA_ROOTS", '["../dr"]')
    with pytest.raises(ConfigError, match=r"setting terraform_extra_roots\.0"):
        load_settings()
