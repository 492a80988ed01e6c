"""specs/ and market/: each shared bound written once, the public names of the split modules still
importable where they were, and stress defaults filled once."""

from __future__ import annotations

import importlib

import pytest

from pytest_stress.schema import Checker
from pytest_stress.specs import common, historic, market, stresses


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "pytest_stress.specs.historic",
            "COLUMN_FIELDS DATASETS FORMATS HistoricSpec parse_data_market with_data iso parse_time "
            "_base_fields _columns _window",
        ),
        (
            "pytest_stress.specs.market",
            "ASSET_CLASSES MARKET_FIELDS MAX_CELLS MAX_DEPTH_LEVELS MAX_SYMBOLS MarketSpec SOURCES TAILS "
            "ReconstructionSpec market_to_dict parse_market parse_reconstruction _check_matrix _optional "
            "_parse_matrix _DEFAULT_CORRELATION",
        ),
        (
            "pytest_stress.market.historic",
            "ALIASES DataError QualityReport check_stresses estimate_params ingest load_market "
            "load_spec_table normalise quality read_table sha256_of to_grid _dataset_table _pick _utc",
        ),
        ("pytest_stress.specs.stresses", "StressSpec STRESS_PARAMS with_defaults leaves parse_stresses"),
    ],
)
def test_every_name_of_the_split_modules_still_imports_from_where_it_was(module, names):
    mod = importlib.import_module(module)
    missing = [n for n in names.split() if not hasattr(mod, n)]
    assert not missing, missing


def test_one_market_spec_and_one_seed_bound_serve_every_source():
    assert market.MarketSpec is historic.MarketSpec
    assert common.MAX_SEED == 2**63 - 1
    assert market.MARKET_FIELDS["seed"] is common.SEED_FIELD
    assert historic._base_fields()["seed"] is common.SEED_FIELD
    assert common.SEED_FIELD.hi == common.MAX_SEED
    assert historic._base_fields()["asset_class"] is market.MARKET_FIELDS["asset_class"]
    assert market.MARKET_FIELDS["spread_bps"].item.hi == historic._base_fields()["spread_bps"].hi


def test_the_loader_tries_aliases_for_exactly_the_fields_a_scenario_can_name():
    from pytest_stress.market.historic import ALIASES

    assert tuple(ALIASES) == historic.COLUMN_FIELDS


def _parsed(raw: list) -> tuple[stresses.StressSpec, ...]:
    chk = Checker(source="<memory>", lines={})
    out = stresses.parse_stresses(chk, ("stress",), raw)
    assert not chk.problems, chk.problems
    return out


@pytest.mark.parametrize("kind", sorted(stresses.STRESS_PARAMS))
def test_a_parsed_stress_already_holds_every_default(kind):
    # the smallest valid stress of each kind: its required keys only
    required = {
        "flash_crash": {"drop_pct": 0.1, "duration_s": 1.0},
        "volatility_spike": {"multiplier": 2.0, "duration_s": 1.0},
        "liquidity_drop": {"drop_pct": 0.5, "duration_s": 1.0},
        "spread_explosion": {"spread_mult": 2.0, "duration_s": 1.0},
        "depth_collapse": {"duration_s": 1.0},
        "data_corruption": {"corruption_pct": 0.1, "duration_s": 1.0},
        "correlation_breakdown": {"duration_s": 1.0},
        "pump_and_dump": {"pump_pct": 0.1, "dump_pct": 0.1, "pump_s": 1.0, "dump_s": 1.0},
        "gap": {"ticks": 1},
        "mixed_custom": {"stresses": [{"type": "depth_collapse", "duration_s": 1.0}]},
    }[kind]
    (spec,) = _parsed([{"type": kind, **required}])
    assert stresses.with_defaults(kind, spec.params) == dict(spec.params)
    assert stresses.StressSpec(kind, dict(spec.params)).params == spec.params
    if kind == "mixed_custom":
        (inner,) = spec.params["stresses"]
        assert inner == {"type": "depth_collapse", **stresses.with_defaults("depth_collapse", inner)}


def test_a_stress_built_in_code_gets_its_defaults_when_built_and_equals_the_parsed_one():
    built = stresses.StressSpec("depth_collapse", {"duration_s": 2.0})
    assert dict(built.params) == {
        "levels_left": 1,
        "spread_mult": 2.0,
        "volume_drop_pct": 0.5,
        "start_s": 0.0,
        "duration_s": 2.0,
    }
    (parsed,) = _parsed([{"type": "depth_collapse", "duration_s": 2.0}])
    assert built.params == parsed.params
    # optional keys without a default stay out; given values are kept; an unknown type is left as given
    gap = stresses.StressSpec("gap", {"ticks": 3, "start_s": 1.0})
    assert dict(gap.params) == {"ticks": 3, "start_s": 1.0}
    assert stresses.StressSpec("no_such_stress", {"x": 1}).params == {"x": 1}
