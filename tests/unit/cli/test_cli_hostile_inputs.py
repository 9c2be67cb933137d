"""Hostile command-line input: one clear line on stderr and a non-zero exit, never a traceback.

``swen`` is run in-process through its console entry point (``swen.cli.main``), exactly as a user runs
it: SwenErrors become one ``error: ...`` line; anything else would escape as a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import Swen, make_swen
from swen.config import Settings
from swen.store.repository import Store

MAX_ID = "9223372036854775807"
HUGE_ID = "99999999999999999999999"


@pytest.fixture
def swen(swen_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    return make_swen(capsys, monkeypatch)


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["mr", "show"], "merge request id"),
        (["mr", "approve"], "merge request id"),
        (["mr", "reject", "--reason", "no"], "merge request id"),
        (["mr", "merge"], "merge request id"),
        (["incident", "show"], "incident id"),
        (["incident", "resolve", "--reason", "fixed"], "incident id"),
        (["pipeline", "show"], "merge request id"),
        (["pipeline", "run"], "merge request id"),
        (["pipeline", "stage", "validate", "--mr"], "merge request id"),
        (["keys", "revoke"], "key id"),
    ],
)
def test_a_huge_id_is_one_line_naming_the_range(swen: Swen, command: list[str], what: str) -> None:
    swen(*command, HUGE_ID).assert_one_line_error(f"{what} '{HUGE_ID}' must be between 1 and {MAX_ID}")


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1e3", str(2**63)])
def test_every_id_outside_1_to_2_63_minus_1_is_refused(swen: Swen, value: str) -> None:
    swen("incident", "show", "--", value).assert_one_line_error(f"must be between 1 and {MAX_ID}")


def test_the_largest_id_reaches_the_store(swen: Swen, swen_home: Path) -> None:
    Store.open(Settings(home=swen_home)).close()  # read/update commands need existing state
    swen("keys", "revoke", MAX_ID).assert_one_line_error(f"no API key with id {MAX_ID}")


# --- file arguments ------------------------------------------------------------------------------------
def test_a_10_kb_backtest_scenario_argument_is_one_short_line(swen: Swen) -> None:
    run = swen("backtest", "--no-progress", "--scenario", "a" * 10_000)
    run.assert_one_line_error("--scenario: no scenario file 'aaaa")
    assert len(run.err) < 400  # the 10 kB value is not echoed back


@pytest.mark.parametrize("command", [["scenario", "load"], ["simulate", "--once", "--scenario"]])
def test_a_10_kb_file_name_is_one_short_line(swen: Swen, command: list[str]) -> None:
    run = swen(*command, "b" * 10_000)
    run.assert_one_line_error("cannot read the file")
    assert len(run.err) < 400


def test_a_scenario_file_that_is_not_utf8_is_one_line(swen: Swen, tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"scenarios:\n  - kind: \xff\xfe\n")
    swen("scenario", "load", str(path)).assert_one_line_error(f"{path}: not UTF-8 text")


# --- settings ------------------------------------------------------------------------------------------
def test_swen_weights_that_is_not_json_is_one_line_naming_the_variable_and_format(swen: Swen) -> None:
    swen("services", env={"SWEN_WEIGHTS": "notjson"}).assert_one_line_error(
        'SWEN_WEIGHTS is not valid JSON; it must be a JSON object, e.g. {"cost": 0.4'
    )


@pytest.mark.parametrize(
    "variable", ["SWEN_MIN_SAVINGS_USD", "SWEN_AMORTISATION_MONTHS", "SWEN_TELEMETRY_RETENTION_DAYS"]
)
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_an_infinite_or_nan_setting_is_one_line(swen: Swen, variable: str, value: str) -> None:
    swen("services", env={variable: value}).assert_one_line_error(
        f"Input should be a finite number (fix {variable} in the environment)"
    )


# --- scenario inject -----------------------------------------------------------------------------------
def test_a_latency_spike_below_1_says_what_is_wrong_with_the_magnitude(swen: Swen) -> None:
    run = swen("scenario", "inject", "latency_spike", "--provider", "aws", "--magnitude", "0.1")
    run.assert_one_line_error(
        "command line: magnitude: a latency spike multiplies latency; use a magnitude >= 1 (got 0.1)"
    )
    assert ": : " not in run.err


def test_an_uppercase_provider_lists_the_providers_not_a_regex(swen: Swen) -> None:
    run = swen("scenario", "inject", "outage", "--provider", "AWS")
    run.assert_one_line_error(
        "provider: unknown provider 'AWS': use one of aws, alibaba, gcp "
        "(provider names are lowercase: use 'aws')"
    )
    assert "^[a-z]" not in run.err
