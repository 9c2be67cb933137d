"""Check an existing infra repository against the settings, without changing anything in it.

``check_repository(path, settings, services)`` reads the repository the way SWEN will use it (the
committed ``main``: ``origin/main`` when it is known, else the local ``main``) and returns one
``Check`` per thing SWEN relies on:

- a git repository with a ``main`` branch and a remote ``origin`` (matching ``infra_remote`` if set);
- the placement file (``placements_file``) on main, parseable, with the map ``placements_variable``
  whose entries have a provider and a region;
- every fleet service has an entry (a missing one is reported; it is not fatal to SWEN, whose first
  move of that service adds the entry in its merge request, so ``swen init`` only notes it), and the
  entries use no key SWEN could not fill in such a new entry (also only a note for ``swen init``);
- each Terraform root (``terraform_root``, ``terraform_extra_roots``) has ``.tf`` files, declares
  ``backend "local" {}`` (SWEN keeps the state under $SWEN_HOME) and the variable
  ``placements_variable``; ``terraform_root`` also the output ``placements``.

``swen init --adopt PATH`` prints every check and exits non-zero when one does not match.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
from lark.exceptions import LarkError

from swen.config import Settings
from swen.domain.errors import SwenError
from swen.domain.models import Service
from swen.gitops.layout import InfraLayout
from swen.gitops.repo import MAIN, REMOTE, resolve_remote_url
from swen.gitops.tfvars import read_placements

FILLABLE_KEYS = ("provider", "region", "instance_type", "gpu_count", "stateful", "replicas")
"""The keys of an entry SWEN writes for a service the map lacks (the committer's ``_new_entry``)."""


@dataclass(frozen=True)
class Check:
    """One thing SWEN relies on: what it is, whether the repository matches, and how to fix it."""

    what: str
    ok: bool
    detail: str
    fix: str = ""
    blocking: bool = True
    """False: SWEN works anyway (a fleet service without an entry gets one through its first move)."""


@dataclass
class AdoptionReport:
    path: Path
    ref: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def blocking(self) -> list[Check]:
        return [c for c in self.mismatches if c.blocking]

    @property
    def matches(self) -> bool:
        return not self.mismatches

    def add(self, what: str, ok: bool, detail: str, fix: str = "", *, blocking: bool = True) -> bool:
        self.checks.append(Check(what, ok, detail, "" if ok else fix, blocking))
        return ok


def check_repository(path: Path, settings: Settings, services: Iterable[Service]) -> AdoptionReport:
    """Every check of the module docstring, on the repository at ``path`` (nothing is written)."""
    layout = InfraLayout.from_settings(settings)
    report = AdoptionReport(path=path)
    try:
        repo = git.Repo(path)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        report.add(
            "repository", False, f"{path} is not a git repository",
            "point `swen init --adopt` (and infra_repo) at the clone of the team's infra repository",
        )  # fmt: skip
        return report
    with repo:
        report.add("repository", True, f"git repository at {Path(repo.working_tree_dir or path)}")
        _check_remote(repo, settings, report)
        ref = _main_ref(repo)
        if not report.add(
            "main branch", ref is not None,
            f"main is {ref}" if ref else "no branch main (local or origin/main)",
            "SWEN branches from and merges into main: create it, or push it to origin",
        ):  # fmt: skip
            return report
        assert ref is not None
        report.ref = ref
        _check_placements(repo, ref, layout, list(services), report)
        for root in layout.roots:
            _check_root(repo, ref, layout, root, report, placement_root=root == layout.root)
        report.add("fmt check", True, f"`terraform fmt -check -recursive` runs on {layout.fmt_dir}")
    report.add("merge requests", True, _host_description(settings))
    return report


def _check_remote(repo: git.Repo, settings: Settings, report: AdoptionReport) -> None:
    urls = {r.name: r.url for r in repo.remotes}
    if REMOTE not in urls:
        report.add(
            "remote", False, f"no remote {REMOTE!r} (remotes: {', '.join(sorted(urls)) or 'none'})",
            f"add the team's remote (`git remote add {REMOTE} URL`); SWEN pushes its branches there",
        )  # fmt: skip
        return
    have = resolve_remote_url(urls[REMOTE])
    if settings.infra_remote is not None and have != resolve_remote_url(settings.infra_remote):
        report.add(
            "remote", False, f"{REMOTE} is {urls[REMOTE]!r}, infra_remote says {settings.infra_remote!r}",
            "set infra_remote to the repository's origin, or fix the repository's remote",
        )  # fmt: skip
        return
    report.add("remote", True, f"{REMOTE} -> {urls[REMOTE]}")


def _main_ref(repo: git.Repo) -> str | None:
    for ref in (f"{REMOTE}/{MAIN}", MAIN):
        try:
            repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
        except git.GitCommandError:
            continue
        return ref
    return None


def _show(repo: git.Repo, ref: str, path: str) -> str | None:
    try:
        return str(
            repo.git.execute(["git", "cat-file", "blob", f"{ref}:{path}"], strip_newline_in_stdout=False)
        )
    except git.GitCommandError:
        return None


def _tree_files(repo: git.Repo, ref: str, folder: str) -> list[str]:
    try:
        out = str(repo.git.ls_tree("--name-only", ref, "--", folder + "/"))
    except git.GitCommandError:
        return []
    return [line for line in out.splitlines() if line]


def _check_placements(
    repo: git.Repo, ref: str, layout: InfraLayout, services: list[Service], report: AdoptionReport
) -> None:
    file, variable = layout.placements_file, layout.variable
    text = _show(repo, ref, file)
    if not report.add(
        "placement file", text is not None, f"{file} on {ref}" + ("" if text is not None else " is missing"),
        f"set placements_file to the tfvars file that holds the placement map ({_tfvars_on(repo, ref)})",
    ):  # fmt: skip
        return
    assert text is not None
    try:
        entries = read_placements(text, source=file, variable=variable)
    except SwenError as exc:
        names = _top_level_names(text)
        report.add(
            "placement variable", False, f"{file}: {exc.message}",
            f"set placements_variable to the map's name (variables in {file}: {', '.join(names) or 'none'})",
        )  # fmt: skip
        return
    report.add("placement variable", True, f"{variable} in {file}: {len(entries)} entries")
    used = sorted({k for e in entries.values() for k in e.attributes})
    other_keys = [k for k in used if k not in FILLABLE_KEYS]
    report.add(
        "entry keys", not other_keys,
        f"SWEN can write every key the entries use ({', '.join(used) or 'none'})"
        if not other_keys
        else f"entries use keys SWEN cannot fill for a new service: {', '.join(other_keys)}",
        "if the root's variable requires them, add a new service's entry by hand before its first move",
        blocking=False,
    )  # fmt: skip
    missing = [s.name for s in services if s.name not in entries]
    report.add(
        "fleet services", not missing,
        f"every fleet service has an entry ({len(services)})" if not missing
        else f"{len(missing)} fleet service(s) without an entry in {variable}: {', '.join(missing)}",
        "add their entries to the map, or leave them: SWEN adds a service's entry in the merge request of "
        "its first move",
        blocking=False,
    )  # fmt: skip


def _tfvars_on(repo: git.Repo, ref: str) -> str:
    try:
        out = str(repo.git.ls_tree("-r", "--name-only", ref))
    except git.GitCommandError:
        return "none found"
    found = [p for p in out.splitlines() if p.endswith(".tfvars")][:5]
    return "tfvars files on main: " + (", ".join(found) or "none")


def _top_level_names(text: str) -> list[str]:
    from hcl2.api import loads

    try:
        return sorted(str(k) for k in loads(text))
    except (LarkError, ValueError):
        return []


def _check_root(
    repo: git.Repo, ref: str, layout: InfraLayout, root: str, report: AdoptionReport, *, placement_root: bool
) -> None:
    tf_files = [p for p in _tree_files(repo, ref, root) if p.endswith(".tf")]
    if not report.add(
        "terraform root", bool(tf_files),
        f"{root}: {len(tf_files)} .tf file(s)" if tf_files else f"{root} has no .tf files on {ref}",
        f"set {'terraform_root' if placement_root else 'terraform_extra_roots'} to folders holding .tf files",
    ):  # fmt: skip
        return
    blocks: dict[str, list[Any]] = {"terraform": [], "variable": [], "output": []}
    unparsed: list[str] = []
    for tf in tf_files:
        parsed = _parse_hcl(_show(repo, ref, tf) or "")
        if parsed is None:
            unparsed.append(posixpath.basename(tf))
            continue
        for kind, items in blocks.items():
            items.extend(parsed.get(kind, []))
    if unparsed:
        report.add(
            "terraform root", False, f"cannot parse {', '.join(unparsed)} in {root}", "fix the HCL syntax"
        )
    backends = [b for t in blocks["terraform"] for b in (t.get("backend") or [])]
    local = any("local" in b for b in backends)
    report.add(
        "state backend", local,
        f'{root} declares backend "local"' if local
        else f'{root} declares no backend "local" ({_names(backends) or "no backend"})',
        f'declare `terraform {{ backend "local" {{}} }}` in {root}: SWEN keeps the state under '
        "$SWEN_HOME/tfstate (use a copy of the root for SWEN if production uses a remote backend)",
    )  # fmt: skip
    variables = {name for v in blocks["variable"] for name in v}
    report.add(
        "root variable", layout.variable in variables,
        f"{root} declares variable {layout.variable}" if layout.variable in variables
        else f"{root} does not declare variable {layout.variable} "
        f"(it declares: {', '.join(sorted(variables)) or 'none'})",
        f'declare `variable "{layout.variable}"` in {root}, or set placements_variable to the map it reads',
    )  # fmt: skip
    if not placement_root:
        return
    outputs = {name for o in blocks["output"] for name in o}
    report.add(
        "placements output", "placements" in outputs,
        f"{root} outputs placements" if "placements" in outputs
        else f"{root} has no output placements (outputs: {', '.join(sorted(outputs)) or 'none'})",
        f"declare `output \"placements\"` (service => {{provider, region}}) in {root}: SWEN reads where "
        "each service runs from it after an apply (see infra/envs/sim/outputs.tf)",
    )  # fmt: skip


def _names(blocks: list[Any]) -> str:
    return ", ".join(str(k) for b in blocks if isinstance(b, dict) for k in b)


def _parse_hcl(text: str) -> dict[str, Any] | None:
    from hcl2.api import loads

    try:
        data = loads(text)
    except (LarkError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _host_description(settings: Settings) -> str:
    if settings.mr_host == "gitlab":
        return f"GitLab project {settings.gitlab_project} at {settings.gitlab_url}"
    if settings.mr_host == "github":
        return f"GitHub repository {settings.github_repository} at {settings.github_api_url}"
    return "the local merge-request store (mr_host: local)"
