"""The scenario library: every scenario the seeds name ships, validates and runs; malformed files get one clear
error; random documents never escape as anything but ScenarioError."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_stress.cli import main
from pytest_stress.errors import ScenarioError
from pytest_stress.metrics import METRICS
from pytest_stress.scenario import (
    ScenarioLibrary,
    ScenarioType,
    get_by_tags,
    get_by_type,
    library_names,
    load_scenario,
    scenario_library,
)
from pytest_stress.schema import read_yaml

MALFORMED = Path(__file__).resolve().parents[1] / "data" / "malformed"

# Every scenario the five seed documents name (issue 5), by seed.
SEED_SCENARIOS = {
    "002": ["flash_crash_lite"],
    "000": ["flash_crash_2010", "covid_fx_2020", "ftx_collapse_2022"],
    "003": [
        "btc_flash_crash_2021",
        "eth_liquidity_collapse",
        "sol_volatility_explosion",
        "mixed_regime_chaos",
        "model_failure",
        "data_corruption_shock",
        "execution_crisis",
        "black_swan_combo",
    ],
    "004": ["nvda_2023_10_17", "decision_flood", "broker_failure"],
    "001": ["missing_data", "volatility_spike", "broker_api_outage", "model_drift", "resource_exhaustion"],
}


def test_every_seed_scenario_ships_and_carries_its_seed_tag():
    names = set(library_names())
    for seed, wanted in SEED_SCENARIOS.items():
        for name in wanted:
            assert name in names, f"seed {seed} scenario {name} is missing"
            sc = load_scenario(name)
            assert f"seed-{seed}" in sc.tags
            assert sc.expect, f"{name} has no expect: block"


def test_every_expect_line_names_a_metric_with_a_unit_and_meaning():
    for sc in scenario_library():
        for e in sc.expect:
            m = METRICS[e.metric]
            assert m.description


def test_seed_thresholds_are_in_the_files():
    """A few of the seeds' numbers, read back from the YAML (seed 004, seed 003, seed 001)."""
    nvda = load_scenario("nvda_2023_10_17")
    assert nvda.expectation("max_drawdown_pct").max == 15.0
    assert nvda.expectation("decision_latency_p99_ms").max == 15.0
    flood = load_scenario("decision_flood")
    assert flood.expectation("decision_samples").min == 600_000
    assert flood.expectation("decision_error_rate").max == 0.01
    broker = load_scenario("broker_failure")
    assert broker.expectation("recovery_time_s").max == 30.0
    assert broker.expectation("market_data_age_at_resume_ms").max == 500.0
    assert broker.expectation("portfolio_reconciliation_error").max == 1.0
    swan = load_scenario("black_swan_combo")
    [mixed] = swan.stress
    kinds = {s["type"]: s for s in mixed.params["stresses"]}
    assert kinds["flash_crash"]["drop_pct"] == 0.30
    assert kinds["volatility_spike"]["multiplier"] == 8.0
    assert kinds["spread_explosion"]["spread_mult"] == 15.0
    assert kinds["liquidity_drop"]["drop_pct"] == 0.95
    assert load_scenario("broker_api_outage").expectation("oms_retries_per_order").max == 3


def test_the_whole_library_runs_in_the_ci_profile_in_a_few_seconds():
    from pytest_stress.run.scenario import run_scenario, warm_up

    warm_up()
    started = time.perf_counter()
    for sc in scenario_library():
        res = run_scenario(sc)
        assert res.checks, sc.name
    assert time.perf_counter() - started < 30  # about 0.3 s on a laptop; generous for a loaded CI box


def test_unmeasured_checks_are_not_evaluated_never_passed():
    from pytest_stress.run.scenario import run_scenario

    res = run_scenario("decision_flood")
    assert {c.status.value for c in res.checks} == {"not_evaluated"}
    assert not res.passed  # nothing evaluated is nothing certified


def test_get_by_type_and_tags_as_in_seed_003():
    crashes = get_by_type(ScenarioType.FLASH_CRASH)
    assert "flash_crash_lite" in [sc.name for sc in crashes]
    replays = {sc.name for sc in ScenarioLibrary.get_by_type("historic_replay")}
    assert {"flash_crash_2010", "btc_flash_crash_2021"} <= replays
    assert {sc.name for sc in get_by_tags("seed-003", "reconstruction")} == {"btc_flash_crash_2021"}
    assert len(get_by_tags("seed-000", "seed-004", match="any")) == 6
    assert ScenarioLibrary.btc_flash_crash_2021().name == "btc_flash_crash_2021"
    assert len(ScenarioLibrary.get_all()) == len(library_names())
    with pytest.raises(AttributeError, match="no scenario named"):
        ScenarioLibrary.no_such_scenario  # noqa: B018


def test_duplicate_names_across_user_directories_are_an_error_naming_both(tmp_path):
    text = (MALFORMED.parent.parent / "data" / "malformed" / "bad_window.yaml").read_text()
    good = text.replace("duration_s: 8, start_s: 4", "duration_s: 5, start_s: 1").replace(
        "bad_window", "twin"
    )
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        d.mkdir()
        (d / "twin.yaml").write_text(good)
    with pytest.raises(ScenarioError) as err:
        scenario_library([one, two])
    message = str(err.value)
    assert str(two / "twin.yaml") in message
    assert str(one / "twin.yaml") in message
    assert "duplicate scenario name 'twin'" in message


def test_yaml_and_yml_of_one_name_in_one_directory_are_duplicates(tmp_path):
    good = "name: twin\nmarket: {source: synthetic, duration_s: 1}\nportfolio: {initial_capital: 1}\n"
    (tmp_path / "twin.yaml").write_text(good)
    (tmp_path / "twin.yml").write_text(good)
    with pytest.raises(ScenarioError, match="duplicate scenario name 'twin'"):
        scenario_library([tmp_path])


# --- the malformed corpus ------------------------------------------------------------------------

CORPUS = {
    "unknown_key.yaml": (4, "portfolio.levrage: unknown key"),
    "wrong_type.yaml": (3, "market.symbols: expected an integer"),
    "out_of_range.yaml": (9, "execution.failure_rate: 1.5 is out of range"),
    "missing_field.yaml": (1, "missing required key 'portfolio'"),
    "duplicate_name.yaml": (9, "name: duplicate key (first given on line 1)"),
    "bad_window.yaml": (6, "stress[0].duration_s: the stress window ends at 12 s"),
    "not_yaml.yaml": (3, "invalid YAML"),
    "empty.yaml": (1, "the file is empty"),
    "yaml_bomb.yaml": (2, "expands to more than 100,000 values"),
}


def test_the_corpus_covers_every_malformed_file():
    assert set(CORPUS) == {p.name for p in MALFORMED.glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_malformed_file_gets_one_clear_error_and_exit_2(name, capsys):
    path = MALFORMED / name
    line, fragment = CORPUS[name]
    started = time.perf_counter()
    assert main(["validate", str(path)]) == 2
    assert time.perf_counter() - started < 5  # the bomb is refused, not expanded
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith(f"{path}:{line}: ")
    assert fragment in lines[0]
    assert re.match(rf"^{re.escape(str(path))}:\d+: ", lines[0])


# --- random documents ----------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["synthetic", "reconstruction", "historic", "flash_crash", "2010-05-06T18:30:00Z", "1e6"]),
)  # fmt: skip
_keys = st.one_of(
    st.sampled_from(
        ["name", "market", "portfolio", "stress", "expect", "source", "duration_s", "symbols", "type",
         "reconstruction", "start", "path", "price", "at", "targets", "kind", "initial_capital", "max",
         "provenance", "sources", "columns", "window", "tags", "execution", "risk", "drop_pct"]
    ),
    st.text(max_size=8),
)  # fmt: skip
_docs = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_docs)
def test_random_documents_raise_nothing_but_scenario_error(doc):
    from pytest_stress.scenario import parse_scenario

    text = yaml.safe_dump(doc)
    try:
        data, lines = read_yaml(text, "random.yaml")
        parse_scenario(data, lines, "random.yaml")
    except ScenarioError:
        pass


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_raises_nothing_but_scenario_error(text):
    from pytest_stress.scenario import parse_scenario

    try:
        data, lines = read_yaml(text, "random.yaml")
        parse_scenario(data, lines, "random.yaml")
    except ScenarioError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    market=st.dictionaries(
        st.sampled_from(["source", "duration_s", "tick_ms", "reconstruction", "symbols", "path", "window"]),
        _docs,
        max_size=6,
    )
)
def test_random_markets_around_a_valid_scenario_raise_only_scenario_error(market):
    from pytest_stress.scenario import parse_scenario

    doc = {"name": "x", "market": {"source": "reconstruction", "duration_s": 60, **market},
           "portfolio": {"initial_capital": 1}}  # fmt: skip
    try:
        data, lines = read_yaml(yaml.safe_dump(doc), "random.yaml")
        parse_scenario(data, lines, "random.yaml")
    except ScenarioError:
        pass
