"""YAML anchors and aliases are refused in every file SWEN reads: a 407-byte alias bomb ("billion
laughs") used to take 38 s or more to load a fleet or scenario file."""

from __future__ import annotations

from pathlib import Path

import pytest

from swen.backtest.spec import load_spec
from swen.domain.errors import ConfigError
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.scenarios import load_scenario_file


def bomb(key: str) -> str:
    """One list item holding nine levels of nine aliases each: 9^9 (387 million) strings once expanded,
    where the loader walks every value (the finite-number check) before validating the item."""
    lines = [f"{key}:", '  - a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"    {name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("loader", "key"),
    [(load_fleet_file, "services"), (load_scenario_file, "scenarios"), (load_spec, "scenarios")],
    ids=["fleet", "scenarios", "backtest"],
)
def test_an_alias_bomb_is_refused_naming_the_file_and_line(tmp_path: Path, loader: object, key: str) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(key))
    assert len(path.read_bytes()) < 450
    with pytest.raises(ConfigError) as refused:
        loader(str(path) if loader is load_spec else path)  # type: ignore[operator]
    assert str(refused.value) == (
        f"{path}: not valid YAML at line 2: YAML anchors and aliases (&name, *name) are not allowed "
        "(write the values out in full)"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("scenarios:\n  - kind: outage\n    provider: &p aws\n", 3),
        ("scenarios:\n  - &one {kind: outage, provider: aws}\n", 2),
        ("base: {kind: outage}\nscenarios:\n  - {<<: *base, provider: aws}\n", 3),
    ],
    ids=["anchor on a scalar", "anchor on a mapping", "merge key"],
)
def test_any_anchor_or_alias_is_refused(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"not valid YAML at line {line}: YAML anchors and aliases"):
        load_scenario_file(path)


def test_plain_yaml_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("scenarios:\n  - {kind: outage, provider: aws, name: 'a & b * c'}\n")
    assert load_scenario_file(path)[0].name == "a & b * c"
