"""Settings from a YAML file (SWEN_CONFIG, else $SWEN_HOME/swen.yaml) validated by the same model;
the environment overrides the file; a bad file is one ConfigError naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from swen.config import load_settings
from swen.domain.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_in_swen_home_is_read(monkeypatch: pytest.MonkeyPatch, swen_home: Path) -> None:
    _write(
        swen_home / "swen.yaml",
        "sim_speed: 4\nmin_confidence: 0.8\n"
        "weights: {cost: 0.5, latency: 0.2, credits: 0.15, availability: 0.15}\n",
    )
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    settings = load_settings()
    assert settings.sim_speed == 4.0
    assert settings.min_confidence == 0.8
    assert settings.weights.cost == 0.5
    assert settings.settings_file == swen_home / "swen.yaml"


def test_the_default_home_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _write(tmp_path / "var" / "swen.yaml", "engine_interval_s: 7\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.engine_interval_s == 7.0
    assert settings.home_is_default  # the file did not choose the state directory


def test_swen_config_names_the_file_and_may_set_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = _write(tmp_path / "etc" / "swen.yaml", f"home: {state}\nseed: 7\n")
    _write(state / "swen.yaml", "seed: 99\n")  # not read: SWEN_CONFIG names the file
    monkeypatch.setenv("SWEN_CONFIG", str(config))
    settings = load_settings()
    assert settings.home == state and not settings.home_is_default
    assert settings.seed == 7


def test_the_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch, swen_home: Path) -> None:
    _write(swen_home / "swen.yaml", "sim_speed: 4\nseed: 3\n")
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setenv("SWEN_SIM_SPEED", "9")
    settings = load_settings()
    assert settings.sim_speed == 9.0  # from the environment
    assert settings.seed == 3  # from the file
    assert load_settings(seed=5).seed == 5  # arguments override both


def test_arguments_choose_the_home_whose_file_is_read(swen_home: Path) -> None:
    _write(swen_home / "swen.yaml", "seed: 11\n")
    assert load_settings(home=swen_home).seed == 11


def test_a_bad_value_names_the_file_and_the_field(monkeypatch: pytest.MonkeyPatch, swen_home: Path) -> None:
    path = _write(swen_home / "swen.yaml", "sim_speed: 4\nmin_confidence: 2\n")
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert message == (
        f"{path}: setting min_confidence: Input should be less than or equal to 1 "
        "(fix min_confidence in this file)"
    )
    assert "\n" not in message


def test_a_bad_value_in_the_environment_still_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, swen_home: Path
) -> None:
    _write(swen_home / "swen.yaml", "min_confidence: 0.9\n")
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    monkeypatch.setenv("SWEN_MIN_CONFIDENCE", "3")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "fix SWEN_MIN_CONFIDENCE in the environment" in str(refused.value)
    assert "swen.yaml" not in str(refused.value)


def test_a_nested_bad_value_names_the_field(monkeypatch: pytest.MonkeyPatch, swen_home: Path) -> None:
    path = _write(
        swen_home / "swen.yaml", "weights: {cost: -1, latency: 0.2, credits: 0.15, availability: 0.15}\n"
    )
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"{path}: setting weights")
    assert "fix weights in this file" in str(refused.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sim_sped: 4\n", "unknown setting 'sim_sped' (did you mean 'sim_speed'?)"),
        ("SWEN_SIM_SPEED: 4\n", "unknown setting 'SWEN_SIM_SPEED' (did you mean 'sim_speed'?)"),
        ("- sim_speed\n", "the settings file must be a mapping of setting: value, not list"),
        ("a: &x 1\nb: *x\n", "not valid YAML at line 1: YAML anchors and aliases"),
        ("sim_speed: [\n", "not valid YAML"),
        ("home: /elsewhere\n", "home: this file is found through the state directory"),
        ("config: other.yaml\n", "unknown setting 'config'"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, swen_home: Path, text: str, expected: str
) -> None:
    path = _write(swen_home / "swen.yaml", text)
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message


def test_a_missing_named_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWEN_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"{tmp_path / 'nope.yaml'}: the settings file does not exist")
    assert "fix SWEN_CONFIG" in str(refused.value)


def test_an_empty_file_sets_nothing(monkeypatch: pytest.MonkeyPatch, swen_home: Path) -> None:
    _write(swen_home / "swen.yaml", "# nothing yet\n")
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    assert load_settings().sim_speed == 1.0


def test_no_file_means_defaults(monkeypatch: pytest.MonkeyPatch, swen_home: Path) -> None:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    settings = load_settings()
    assert settings.settings_file is None
    assert settings.sim_speed == 1.0
    assert not settings.home_is_default
