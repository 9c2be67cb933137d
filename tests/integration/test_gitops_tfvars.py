"""terraform.tfvars editing: one entry changes, every other byte stays, the result is fmt-clean."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hcl2.api import loads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swen.domain.errors import ConflictError, InvalidInputError, NotFoundError
from swen.gitops.tfvars import edit_placement, read_placements, terraform_fmt

TFVARS = """\
# SWEN service placement. Comments must survive edits.
environment = "sim"

service_placement = {
  # Web front end, stateless.
  "service-1" = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "m5.large"
    gpu_count     = 0
    stateful      = false
    replicas      = 2
  }

  # API back end; note: "service-2" = { provider = "gcp" } in a comment is not an entry.
  service-2 = {
    provider      = "aws" # moved here in 2025
    region        = "us-east-1"
    instance_type = "m5.xlarge"
    gpu_count     = 0
    stateful      = false
    replicas      = 2
  }
  service-20 = { provider = "aws", region = "us-west-2" } // one-line entry

  /* Batch workers close to APAC users. */
  "service-3" = {
    provider = "alibaba"
    region   = "ap-southeast-1"
  }
}

tags = {
  owner = "platform"
}
"""


def _fmt_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    rc = tmp_path / "terraformrc"
    rc.write_text("")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc)}
    return subprocess.run(
        ["terraform", "fmt", "-check", "-"], input=text, capture_output=True, text=True, env=env, check=False
    )


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_fixture_is_fmt_clean(tmp_path: Path) -> None:
    assert _fmt_check(TFVARS, tmp_path).returncode == 0


def test_read_placements_strips_quotes_and_reads_every_entry() -> None:
    entries = read_placements(TFVARS)
    assert sorted(entries) == ["service-1", "service-2", "service-20", "service-3"]
    one = entries["service-1"]
    assert (one.provider, one.region, one.instance_type, one.stateful) == (
        "aws",
        "us-east-1",
        "m5.large",
        False,
    )
    assert one.attributes["replicas"] == 2
    assert entries["service-3"].instance_type is None


def test_set_placement_changes_only_that_entry(tmp_path: Path) -> None:
    after = edit_placement(TFVARS, "service-2", "alibaba", "ap-southeast-1", "ecs.g7.xlarge")
    assert _changed_lines(TFVARS, after) == [
        (
            '    provider      = "aws" # moved here in 2025\n',
            '    provider      = "alibaba" # moved here in 2025\n',
        ),
        ('    region        = "us-east-1"\n', '    region        = "ap-southeast-1"\n'),
        ('    instance_type = "m5.xlarge"\n', '    instance_type = "ecs.g7.xlarge"\n'),
    ]
    assert _fmt_check(after, tmp_path).returncode == 0
    entries = read_placements(after)
    assert entries["service-2"].provider == "alibaba"
    assert entries["service-2"].region == "ap-southeast-1"
    assert entries["service-2"].instance_type == "ecs.g7.xlarge"
    assert entries["service-20"].provider == "aws"  # the prefix-sharing neighbour is untouched
    assert loads(after)["tags"] == {"owner": "platform"}


def test_quoted_key_entry_and_instance_type_kept_when_not_given(tmp_path: Path) -> None:
    after = edit_placement(TFVARS, "service-1", "alibaba", "ap-southeast-1")
    assert len(_changed_lines(TFVARS, after)) == 2
    assert read_placements(after)["service-1"].instance_type == "m5.large"
    assert _fmt_check(after, tmp_path).returncode == 0


def test_missing_instance_type_is_added_and_realigned(tmp_path: Path) -> None:
    after = edit_placement(TFVARS, "service-3", "aws", "us-east-1", "m5.large")
    assert (
        '    provider      = "aws"\n    region        = "us-east-1"\n    instance_type = "m5.large"\n'
        in after
    )
    head, _tail = TFVARS.split('  "service-3" = {')
    assert after.startswith(head)
    assert after.endswith('  }\n}\n\ntags = {\n  owner = "platform"\n}\n')
    assert _fmt_check(after, tmp_path).returncode == 0
    assert read_placements(after)["service-3"].instance_type == "m5.large"


def test_one_line_entry_is_edited_in_place(tmp_path: Path) -> None:
    after = edit_placement(TFVARS, "service-20", "alibaba", "us-west-1", "ecs.g7.large")
    changed = _changed_lines(TFVARS, after)
    assert changed == [
        (
            '  service-20 = { provider = "aws", region = "us-west-2" } // one-line entry\n',
            '  service-20 = { provider = "alibaba", region = "us-west-1", instance_type = "ecs.g7.large" }'
            " // one-line entry\n",
        )
    ]
    assert _fmt_check(after, tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("service", "provider", "region", "instance_type"),
    [
        ('service-2"\nevil = "x', "aws", "us-east-1", None),
        ("service-2", 'aws"\n', "us-east-1", None),
        ("service-2", "aws", "../../etc", None),
        ("--force", "aws", "us-east-1", None),
        ("service-2", "--upload-pack=x", "us-east-1", None),
        ("service-2", "aws", "us-east-1", 'm5"\n}'),
        ("service-2", "aws", "us-east-1", "../x"),
    ],
)
def test_bad_names_are_rejected(service: str, provider: str, region: str, instance_type: str | None) -> None:
    with pytest.raises(InvalidInputError):
        edit_placement(TFVARS, service, provider, region, instance_type)


def test_unknown_service_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="service-9"):
        edit_placement(TFVARS, "service-9", "aws", "us-east-1")


def test_same_placement_is_a_conflict() -> None:
    with pytest.raises(ConflictError):
        edit_placement(TFVARS, "service-1", "aws", "us-east-1", "m5.large")


def test_broken_hcl_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="cannot parse HCL"):
        edit_placement("service_placement = {\n", "service-1", "aws", "us-east-1")
    with pytest.raises(InvalidInputError, match="no service_placement"):
        read_placements('environment = "sim"\n')


def test_terraform_fmt_aligns() -> None:
    assert terraform_fmt("a = 1\nlong_name = 2\n") == "a         = 1\nlong_name = 2\n"


def test_shipped_template_tfvars_is_editable(tmp_path: Path) -> None:
    from swen.gitops.template import locate_template

    text = locate_template().tfvars.read_text(encoding="utf-8")
    entries = read_placements(text)
    service = sorted(entries)[0]
    target = ("alibaba", "ap-southeast-1") if entries[service].provider == "aws" else ("aws", "us-east-1")
    after = edit_placement(text, service, *target)
    assert read_placements(after)[service].provider == target[0]
    assert len(_changed_lines(text, after)) == 2
    assert _fmt_check(after, tmp_path).returncode == 0


_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
_TYPES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    service=st.sampled_from(["service-1", "service-2", "service-20", "service-3"]),
    provider=_NAMES,
    region=_NAMES,
    instance_type=st.none() | _TYPES,
)
def test_any_valid_edit_changes_only_its_entry(
    service: str, provider: str, region: str, instance_type: str | None
) -> None:
    before = read_placements(TFVARS)
    old = before[service]
    if (old.provider, old.region) == (provider, region) and instance_type in (None, old.instance_type):
        return  # nothing to change (ConflictError, tested elsewhere)
    after = edit_placement(TFVARS, service, provider, region, instance_type)
    entries = read_placements(after)
    assert (entries[service].provider, entries[service].region) == (provider, region)
    assert entries[service].instance_type == (instance_type or old.instance_type)
    assert {k: v for k, v in entries.items() if k != service} == {
        k: v for k, v in before.items() if k != service
    }
    kept = [line for line in TFVARS.splitlines() if line.strip().startswith(("#", "//", "/*"))]
    assert all(line in after.splitlines() for line in kept)
    assert terraform_fmt(after) == after
