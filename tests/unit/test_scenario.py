"""The scenario model: loading, validation errors that say FILE:LINE: key.path, and library lookups."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_stress.errors import ScenarioError, ScenarioNotFound
from pytest_stress.replay.transforms import TRANSFORMS
from pytest_stress.scenario import (
    STRESS_PARAMS,
    OnBreach,
    library_names,
    load_scenario,
    load_scenario_file,
    scenario_library,
)

GOOD = """\
name: small
description: a small scenario
market: {source: synthetic, symbols: 5, duration_s: 10, tick_ms: 100, seed: 7}
portfolio: {initial_capital: 1000000}
stress:
  - {type: flash_crash, price_shock_pct: -0.05, spread_mult: 2.0, duration_s: 4, start_s: 2}
expect:
  max_drawdown_pct: {max: 8.0}
  kill_switch_triggered: {equals: false}
on_breach: record
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """The error lines ScenarioError gives for ``text``, each checked to start with FILE:LINE:."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    lines = str(info.value).splitlines()
    for line in lines:
        prefix, lineno, _ = line.split(":", 2)
        assert prefix == str(path), line
        assert lineno.isdigit(), line
    return lines


def test_a_good_file_loads_with_defaults_filled_in(tmp_path):
    sc = load_scenario_file(write(tmp_path, GOOD))
    assert sc.name == "small"
    assert sc.market.symbols == 5
    assert sc.market.seed == 7
    assert sc.market.n_ticks == 101  # 10 s of 100 ms ticks, both ends included
    assert sc.portfolio.gross_leverage == 1.0
    assert sc.portfolio.var_confidence == 0.99
    (stress,) = sc.stress
    assert stress.type == "flash_crash"
    assert stress.params["recovery"] == "linear"  # default
    assert stress.params["start_s"] == 2.0
    assert stress.line == 6
    assert [e.metric for e in sc.expect] == ["max_drawdown_pct", "kill_switch_triggered"]
    assert sc.expectation("max_drawdown_pct").max == 8.0
    assert sc.expectation("kill_switch_triggered").equals is False
    assert sc.on_breach is OnBreach.RECORD
    assert sc.source == str(tmp_path / "s.yaml")


def test_unknown_key_names_its_line_path_and_nearest_allowed_key(tmp_path):
    text = GOOD.replace("portfolio: {initial_capital: 1000000}", "portfolio: {initial_capitol: 1000000}")
    # one typo, one problem: the required key it was meant to be is not also reported missing
    (line,) = problems_of(tmp_path, text)
    assert ":4: portfolio.initial_capitol: unknown key (did you mean 'initial_capital'?)" in line
    assert "allowed: initial_capital, gross_leverage" in line


def test_every_problem_is_listed_in_line_order(tmp_path):
    text = GOOD.replace("symbols: 5", "symbols: five").replace("spread_mult: 2.0", "spread_mult: 0.5")
    text = text.replace("on_breach: record", "on_breach: panic")
    lines = problems_of(tmp_path, text)
    assert len(lines) == 3
    assert ":3: market.symbols: expected an integer >= 1" in lines[0]
    assert "got text 'five'" in lines[0]
    assert ":6: stress[0].spread_mult: 0.5 is out of range: expected a number >= 1" in lines[1]
    assert ":10: on_breach: 'panic' is not allowed" in lines[2]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("seed: 7", "seed: -1", "market.seed: -1 is out of range"),
        ("tick_ms: 100", "tick_ms: 2.5", "market.tick_ms: expected an integer"),
        (
            "price_shock_pct: -0.05",
            "price_shock_pct: 0.05",
            "stress[0].price_shock_pct: 0.05 is out of range",
        ),
        ("price_shock_pct: -0.05", "price_shock_pct: -3", "stress[0].price_shock_pct: -3 is out of range"),
        ("{max: 8.0}", "{max: yes}", "expect.max_drawdown_pct.max: expected a number, got a boolean True"),
        ("{max: 8.0}", "{max: .nan}", "expect.max_drawdown_pct.max: expected a finite number"),
        ("{max: 8.0}", "{min: 9.0, max: 8.0}", "expect.max_drawdown_pct: min 9 is above max 8"),
        ("{max: 8.0}", "{}", "expect.max_drawdown_pct: give at least one bound"),
        ("max_drawdown_pct:", "max_drawdown:", "unknown metric (did you mean 'max_drawdown_pct'?)"),
    ],
)
def test_wrong_types_and_out_of_range_values(tmp_path, old, new, expected):
    assert old in GOOD
    (line,) = problems_of(tmp_path, GOOD.replace(old, new))
    assert expected in line


def test_wrong_recovery_mode_suggests_the_closest(tmp_path):
    text = GOOD.replace("start_s: 2}", "start_s: 2, recovery: liner}")
    (line,) = problems_of(tmp_path, text)
    assert ":6: stress[0].recovery: 'liner' is not allowed (did you mean 'linear'?)" in line


def test_missing_required_fields(tmp_path):
    text = GOOD.replace("portfolio: {initial_capital: 1000000}\n", "").replace("duration_s: 10, ", "")
    lines = problems_of(tmp_path, text)
    assert any("market: missing required key 'duration_s'" in ln for ln in lines)
    assert any(":1: missing required key 'portfolio'" in ln for ln in lines)


def test_unknown_stress_type_and_unknown_stress_parameter(tmp_path):
    lines = problems_of(tmp_path, GOOD.replace("type: flash_crash", "type: flash_crsh"))
    assert "stress[0].type: 'flash_crsh' is not allowed (did you mean 'flash_crash'?)" in lines[0]
    lines = problems_of(tmp_path, GOOD.replace("start_s: 2}", "start_s: 2, drop: 0.1}"))
    assert "stress[0].drop: unknown key" in lines[0]


@pytest.mark.parametrize(
    ("written", "value"), [("1e6", 1e6), ("1.0e6", 1e6), ("2.5E+6", 2.5e6), ("1_000_000", 1e6)]
)
def test_exponent_numbers_read_as_numbers(tmp_path, written, value):
    # PyYAML (YAML 1.1) would read 1e6 and 1.0e6 as text; a scenario author means a number
    sc = load_scenario_file(write(tmp_path, GOOD.replace("1000000", written)))
    assert sc.portfolio.initial_capital == value


def test_quoted_number_is_text_with_a_hint(tmp_path):
    (line,) = problems_of(tmp_path, GOOD.replace("1000000", '"1e6"'))
    assert "portfolio.initial_capital: expected a number > 0, got text '1e6' (a quoted number is text" in line


def test_integer_field_refuses_a_fraction_written_as_exponent(tmp_path):
    (line,) = problems_of(tmp_path, GOOD.replace("symbols: 5", "symbols: 1.5e1"))
    assert "market.symbols: expected an integer >= 1 and <= 10000, got a number 15.0" in line


def test_stress_window_must_fit_inside_the_market(tmp_path):
    (line,) = problems_of(tmp_path, GOOD.replace("duration_s: 4, start_s: 2", "duration_s: 9, start_s: 2"))
    assert ":6: stress[0].duration_s: the stress window ends at 11 s, after the market's 10 s" in line


def test_fall_must_end_inside_the_window(tmp_path):
    (line,) = problems_of(tmp_path, GOOD.replace("start_s: 2}", "start_s: 2, fall_s: 4}"))
    assert "stress[0].fall_s: the fall (4 s) must end inside the 4 s window" in line


def test_duration_must_be_whole_ticks(tmp_path):
    (line,) = problems_of(
        tmp_path, GOOD.replace("duration_s: 10, tick_ms: 100", "duration_s: 10.05, tick_ms: 100")
    )
    assert "market.duration_s: 10.05 s is not a whole number of 100 ms ticks" in line


def test_a_market_too_large_for_memory_is_refused_before_allocation(tmp_path):
    text = GOOD.replace(
        "symbols: 5, duration_s: 10, tick_ms: 100", "symbols: 10000, duration_s: 86400, tick_ms: 100"
    )
    text = text.replace("duration_s: 4, start_s: 2", "duration_s: 60, start_s: 0")
    (line,) = problems_of(tmp_path, text)
    assert "market: 864001 ticks x 10000 symbols is above the limit" in line


def test_historic_source_needs_a_path_and_takes_no_generator_keys(tmp_path):
    lines = problems_of(tmp_path, GOOD.replace("source: synthetic", "source: historic"))
    assert any("market.duration_s: unknown key" in line for line in lines)
    assert any("missing required key 'path'" in line for line in lines)


def test_malformed_yaml_points_at_the_line(tmp_path):
    text = GOOD.replace("  max_drawdown_pct: {max: 8.0}", "  max_drawdown_pct: {max: 8.0\n  oops: [")
    (line,) = problems_of(tmp_path, text)
    assert ":9: invalid YAML: expected ',' or '}'" in line


def test_unclosed_bracket_points_where_it_opened(tmp_path):
    (line,) = problems_of(tmp_path, GOOD + "tags: [a, b\n")
    assert ":11: invalid YAML" in line
    assert "starts here" in line


def test_duplicate_keys_are_an_error_not_silently_overwritten(tmp_path):
    lines = problems_of(tmp_path, GOOD + "on_breach: kill_switch\n")
    assert lines == [f"{tmp_path / 's.yaml'}:11: on_breach: duplicate key (first given on line 10)"]


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    assert problems_of(tmp_path, text) == [f"{tmp_path / 's.yaml'}:1: the file is empty"]


def test_top_level_must_be_a_mapping(tmp_path):
    (line,) = problems_of(tmp_path, "- just\n- a list\n")
    assert ":1: expected a mapping of keys, got a list" in line


@pytest.mark.parametrize(
    "text",
    [
        "name: !!python/object/apply:os.system ['true']\n",
        "name: !!python/name:os.system\n",
        "market: !!python/object:collections.OrderedDict {a: 1}\n",
    ],
)
def test_python_tags_are_refused_not_executed_or_dropped(tmp_path, text):
    (line,) = problems_of(tmp_path, text)
    assert ":1: invalid YAML" in line
    assert "python/" in line


def test_not_utf8(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.yaml:1: not UTF-8 text"):
        load_scenario_file(p)


def test_name_must_be_snake_case(tmp_path):
    (line,) = problems_of(tmp_path, GOOD.replace("name: small", "name: Small Scenario"))
    assert ":1: name:" in line
    assert "snake_case" in line


def test_stress_types_in_the_schema_are_exactly_those_the_replay_core_implements():
    assert set(STRESS_PARAMS) == set(TRANSFORMS)


def test_library_holds_flash_crash_lite_with_the_seed_numbers():
    assert "flash_crash_lite" in library_names()
    sc = load_scenario("flash_crash_lite")
    (stress,) = sc.stress
    assert stress.params["price_shock_pct"] == -0.03
    assert stress.params["spread_mult"] == 3.0
    assert stress.params["duration_s"] == 60.0
    assert stress.params["recovery"] == "linear"
    assert sc.expectation("max_drawdown_pct").max == 5.0
    assert sc.expectation("var_multiple").max == 2.0
    assert sc.expectation("position_delta_pct").max == 10.0
    assert sc.on_breach is OnBreach.KILL_SWITCH
    assert sc.market.symbols == 100
    assert [s.name for s in scenario_library()] == library_names()


def test_unknown_library_name_suggests_close_names():
    with pytest.raises(ScenarioNotFound, match="Did you mean: flash_crash_lite"):
        load_scenario("flash_crash_lit")


def test_missing_file_is_not_found():
    with pytest.raises(ScenarioNotFound, match="no such scenario file"):
        load_scenario("does/not/exist.yaml")


def test_extra_directory_adds_and_shadows_library_names(tmp_path):
    write(tmp_path, GOOD, "small.yaml")
    assert "small" in library_names([tmp_path])
    assert load_scenario("small", [tmp_path]).market.symbols == 5
    shadow = GOOD.replace("name: small", "name: flash_crash_lite")
    write(tmp_path, shadow, "flash_crash_lite.yaml")
    assert load_scenario("flash_crash_lite", [tmp_path]).market.symbols == 5


def test_library_file_name_must_match_its_name(tmp_path):
    write(tmp_path, GOOD, "other.yaml")
    with pytest.raises(ScenarioError, match=r"other\.yaml:1: name: name 'small' differs from the file name"):
        scenario_library([tmp_path])


def test_missing_extra_directory_is_reported(tmp_path):
    with pytest.raises(ScenarioNotFound, match="scenario directory does not exist"):
        library_names([tmp_path / "nope"])


def test_overrides_change_only_what_is_given(tmp_path):
    sc = load_scenario_file(write(tmp_path, GOOD))
    other = sc.with_overrides(symbols=50)
    assert other.market.symbols == 50
    assert other.market.seed == 7
    assert sc.market.symbols == 5  # frozen: the original is untouched
    assert sc.with_overrides(seed=3).market.seed == 3


def test_to_dict_round_trips_through_the_loader(tmp_path):
    import yaml

    sc = load_scenario_file(write(tmp_path, GOOD))
    again = load_scenario_file(write(tmp_path, yaml.safe_dump(sc.to_dict()), "again.yaml"))
    assert again.to_dict() == sc.to_dict()
