"""Bring your own data: CSV/Parquet ticks as a market (source: historic), `ingest`, the dataset version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pytest_stress.cli import main
from pytest_stress.market.historic import DataError, ingest, sha256_of
from pytest_stress.run.scenario import run_scenario
from pytest_stress.scenario import load_scenario_file


def _ticks(path, *, flaws: bool) -> None:
    rng = np.random.default_rng(0)
    t0 = pd.Timestamp("2024-03-01 09:30")  # naive: US Eastern, as a vendor's CSV often is
    rows = []
    for sym, p0 in (("AAA", 100.0), ("BBB", 50.0)):
        p = p0 * np.exp(np.cumsum(rng.normal(0, 1e-4, 600)))
        rows += [(str(t0 + pd.Timedelta(seconds=i)), sym, p[i] - 0.01, p[i] + 0.01, 100) for i in range(600)]
    df = pd.DataFrame(rows, columns=["time", "ticker", "bid", "ask", "size"])
    if flaws:
        df.loc[5, "bid"] = np.nan
        df.loc[7, "bid"] = df.loc[7, "ask"] + 1.0
        df = pd.concat([df, df.iloc[[10]]])
    df.to_csv(path, index=False)


SCENARIO = """\
name: mine
market: {{source: historic, path: {path}, tick_ms: 1000{extra}}}
portfolio: {{initial_capital: 100000}}
stress:
  - {{type: flash_crash, price_shock_pct: -0.03, duration_s: 60, start_s: 100}}
risk: {{position_delta_trip_pct: null}}
expect:
  max_drawdown_pct: {{max: 5}}
"""


def test_ingest_reports_every_flaw_and_writes_sorted_parquet(tmp_path):
    csv = tmp_path / "ticks.csv"
    _ticks(csv, flaws=True)
    rep, sha = ingest(csv, tmp_path / "ticks.parquet", tz="America/New_York")
    assert (rep.rows, rep.unsorted, rep.duplicates, rep.nans, rep.crossed) == (1201, 1, 1, 1, 1)
    assert rep.first == "2024-03-01T14:30:00Z"  # 09:30 EST is 14:30 UTC
    assert sha == sha256_of(tmp_path / "ticks.parquet")
    back = pd.read_parquet(tmp_path / "ticks.parquet")
    assert back["timestamp"].is_monotonic_increasing


def test_ingest_cli_prints_the_summary_and_the_dataset_version(tmp_path, capsys):
    csv = tmp_path / "ticks.csv"
    _ticks(csv, flaws=True)
    out = tmp_path / "t.parquet"
    assert main(["ingest", str(csv), "--out", str(out), "--tz", "America/New_York"]) == 0
    text = capsys.readouterr().out
    assert "crossed books (bid above ask): 1" in text
    assert f"dataset version: sha256 {sha256_of(out)}" in text
    assert main(["ingest", str(csv), "--out", str(out), "--strict"]) == 1
    assert main(["ingest", str(tmp_path / "none.csv"), "--out", str(out)]) == 2


def test_a_historic_scenario_replays_the_file_and_records_its_version(tmp_path):
    csv = tmp_path / "ticks.csv"
    _ticks(csv, flaws=False)
    _, sha = ingest(csv, tmp_path / "ticks.parquet")
    yaml_path = tmp_path / "mine.yaml"
    yaml_path.write_text(SCENARIO.format(path="ticks.parquet", extra=f", sha256: {sha}"))
    res = run_scenario(load_scenario_file(yaml_path))
    assert res.symbol_names == ("AAA", "BBB")
    assert res.n_ticks == 600
    assert res.provenance["kind"] == "historic"
    assert res.provenance["dataset_sha256"] == sha
    assert res.provenance["start_utc"] == "2024-03-01T09:30:00Z"  # written without a zone: tz UTC by default
    assert res.max_drawdown_pct > 2.0  # the 3 % shock reached the book


def test_csv_loads_directly_with_named_columns(tmp_path):
    csv = tmp_path / "ticks.csv"
    _ticks(csv, flaws=False)
    df = pd.read_csv(csv).rename(columns={"time": "when", "ticker": "name"})
    df.to_csv(csv, index=False)
    yaml_path = tmp_path / "mine.yaml"
    extra = ", format: csv, tz: America/New_York, columns: {timestamp: when, symbol: name}"
    yaml_path.write_text(SCENARIO.format(path="ticks.csv", extra=extra))
    res = run_scenario(load_scenario_file(yaml_path))
    assert res.symbol_names == ("AAA", "BBB")
    assert res.provenance["start_utc"] == "2024-03-01T14:30:00Z"


def test_a_changed_file_is_refused_when_its_version_is_pinned(tmp_path):
    csv = tmp_path / "ticks.csv"
    _ticks(csv, flaws=False)
    yaml_path = tmp_path / "mine.yaml"
    yaml_path.write_text(SCENARIO.format(path="ticks.csv", extra=", sha256: " + "ab" * 32))
    with pytest.raises(DataError, match="the data changed"):
        run_scenario(load_scenario_file(yaml_path))


def test_stress_windows_are_checked_against_the_data_length(tmp_path, capsys):
    csv = tmp_path / "ticks.csv"
    _ticks(csv, flaws=False)
    yaml_path = tmp_path / "mine.yaml"
    yaml_path.write_text(SCENARIO.format(path="ticks.csv", extra="").replace("start_s: 100", "start_s: 580"))
    assert main(["run", str(yaml_path)]) == 2
    assert "the stress window ends at 640 s" in capsys.readouterr().err


def test_bad_historic_keys_are_file_line_errors(tmp_path, capsys):
    yaml_path = tmp_path / "bad.yaml"
    yaml_path.write_text(SCENARIO.format(path="ticks.txt", extra=", tz: Mars/Olympus"))
    assert main(["validate", str(yaml_path)]) == 2
    err = capsys.readouterr().err
    assert f"{yaml_path}:2: market.path: cannot tell the format" in err


DATASETS = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "datasets").glob("*.yaml"))


@pytest.mark.parametrize("path", DATASETS, ids=[p.stem for p in DATASETS])
def test_dataset_scenarios_validate_and_run_when_the_arch_extra_is_installed(path):
    sc = load_scenario_file(path)
    assert sc.provenance_kind == "dataset"
    pytest.importorskip("arch", reason="the arch extra is not installed: real S&P 500 daily bars unavailable")
    res = run_scenario(sc)
    assert res.provenance["dataset_sha256"]
