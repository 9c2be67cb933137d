"""Settings from the environment: a bad value is one ConfigError naming the variable and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from swen.config import Settings, load_settings
from swen.domain.errors import ConfigError

FLOAT_SETTINGS = sorted(name for name, f in Settings.model_fields.items() if f.annotation is float)


def test_the_float_settings_are_found() -> None:
    assert {"min_savings_usd", "amortisation_months", "telemetry_retention_days"} <= set(FLOAT_SETTINGS)


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "nan", "NaN"])
@pytest.mark.parametrize("name", FLOAT_SETTINGS)
def test_no_float_setting_accepts_infinity_or_nan(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    variable = f"SWEN_{name.upper()}"
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert f"setting {name}: Input should be a finite number" in str(refused.value)
    assert f"fix {variable}" in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("SWEN_WEIGHTS", 'a JSON object, e.g. {"cost": 0.4'),
        ("SWEN_CORS_ORIGINS", "a JSON list of origins"),
    ],
)
def test_a_json_setting_that_is_not_json_names_the_variable_and_the_format(
    monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    monkeypatch.setenv(variable, "notjson")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"{variable} is not valid JSON; it must be {expected}")


def test_valid_json_settings_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEN_WEIGHTS", '{"cost": 0.5, "latency": 0.2, "credits": 0.15, "availability": 0.15}')
    monkeypatch.setenv("SWEN_CORS_ORIGINS", '["https://a.example"]')
    settings = load_settings()
    assert settings.weights.cost == 0.5 and settings.cors_origins == ("https://a.example",)


def test_the_repair_cap_and_hold_down_reach_the_engine_from_env_or_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from swen.engine.params import EngineParams

    params = EngineParams.from_settings(load_settings())
    assert (params.max_repair_cost_pct, params.slo_holddown_s) == (150.0, 30 * 86400.0)  # documented
    monkeypatch.setenv("SWEN_MAX_REPAIR_COST_PCT", "60")
    (tmp_path / "swen.yaml").write_text("slo_holddown_s: 86400\n", "utf-8")
    monkeypatch.setenv("SWEN_CONFIG", str(tmp_path / "swen.yaml"))
    params = EngineParams.from_settings(load_settings())
    assert (params.max_repair_cost_pct, params.slo_holddown_s) == (60.0, 86400.0)
    monkeypatch.setenv("SWEN_MAX_REPAIR_COST_PCT", "-1")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "setting max_repair_cost_pct" in str(refused.value)
    assert "fix SWEN_MAX_REPAIR_COST_PCT" in str(refused.value)


def test_the_review_cost_reaches_the_engine_and_a_negative_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from swen.engine.params import EngineParams

    assert EngineParams.from_settings(load_settings()).review_cost_usd == 100.0  # the documented default
    monkeypatch.setenv("SWEN_REVIEW_COST_USD", "250")
    assert EngineParams.from_settings(load_settings()).review_cost_usd == 250.0
    monkeypatch.setenv("SWEN_REVIEW_COST_USD", "-5")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "setting review_cost_usd" in str(refused.value) and "fix SWEN_REVIEW_COST_USD" in str(
        refused.value
    )
