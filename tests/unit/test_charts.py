"""The report's charts (certify/charts.py): embeddable SVG (valid XML, no scripts, no outside references),
the labels a reader needs, the same bytes for the same data, small enough for a 20-run report; and the
price path the run layer records for them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from pytest_stress import run_scenario
from pytest_stress.certify import charts

SVG_NS = "{http://www.w3.org/2000/svg}"
BUDGET = 40_000  # bytes per chart: ~20 runs x 3 charts stay far under the report's 2 MB
# the longest session, the most events (only the first 500 kept), a crash at t=0 on 100 symbols, a kill switch
SCENARIOS = ("nvda_2023_10_17", "ftx_collapse_2022", "flash_crash_lite", "black_swan_combo")
RUN_CHARTS = (charts.price_chart, charts.equity_drawdown_chart, charts.risk_events_chart)


@pytest.fixture(scope="module")
def runs():
    out = {}
    for name in SCENARIOS:
        record = run_scenario(name).to_dict()
        record["certified"] = True
        out[name] = record
    return out


def fault_tests():
    """Test records as CertificationSession keeps them, named like tests/stress/test_fault_matrix*.py."""
    drop = {"service": "market_data", "mode": "drop", "rate": 1.0, "window": None, "value": 2.0}
    outage = {"service": "broker", "mode": "outage", "rate": 1.0, "window": [10.0, 40.0], "value": None}
    latency = {"service": "broker", "mode": "latency", "rate": 1.0, "window": None, "value": 200.0}
    fm = "tests/stress/test_fault_matrix.py::test_market_data_gaps_are_detected_and_flagged"
    fb = "tests/stress/test_fault_matrix_broker.py::"
    return [
        {"nodeid": f"{fm}[flash_crash_lite]", "outcome": "passed", "faults": [drop]},
        {"nodeid": f"{fm}[ftx_collapse_2022]", "outcome": "failed", "faults": [drop]},
        {
            "nodeid": f"{fb}test_two[flash_crash_lite-disabled]",
            "outcome": "passed",
            "faults": [outage, outage],
        },
        {
            "nodeid": f"{fb}test_two[ftx_collapse_2022-disabled]",
            "outcome": "skipped",
            "faults": [outage, outage],
        },
        {"nodeid": f"{fb}test_fill[flash_crash_lite-latency]", "outcome": "passed", "faults": [latency]},
        {"nodeid": f"{fb}test_fill_again[flash_crash_lite-latency]", "outcome": "error", "faults": [latency]},
        {"nodeid": f"{fb}test_recovery", "outcome": "passed", "faults": [outage]},
        {
            "nodeid": "tests/stress/test_library.py::test_library_scenario[flash_crash_lite]",
            "outcome": "passed",
        },
    ]


def texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG_NS}text")]


def assert_embeddable(svg: str) -> None:
    assert svg.startswith("<svg "), svg[:80]
    assert svg.endswith("</svg>"), svg[-80:]
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg
    root = ET.fromstring(svg)  # well-formed XML
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        assert tag not in ("script", "foreignObject", "image", "iframe", "a"), tag
        for name, value in el.attrib.items():
            local = name.rsplit("}", 1)[-1]
            assert not local.startswith("on"), (tag, name)  # no event handlers
            if local in ("href", "src"):
                assert value.startswith("#"), (tag, name, value)
            assert "url(" not in value or re.fullmatch(r"[^(]*(url\(#[^)]+\)[^(]*)+", value), value
    assert "<metadata" not in svg
    assert "javascript:" not in svg.lower()


# --- the price path in the record -----------------------------------------------------------------


def test_the_record_carries_the_price_path_reduced_like_the_equity_curve(runs):
    rec = runs["flash_crash_lite"]
    curve = rec["price_curve"]
    assert len(curve["tick"]) == len(curve["index"]) <= 602
    assert curve["tick"][0] == 0
    assert curve["tick"][-1] == rec["n_ticks"] - 1
    assert curve["index"][0] == pytest.approx(1.0)
    assert min(curve["index"]) == pytest.approx(0.97, abs=1e-3)  # the -3 % crash, on the mean mid
    assert len(runs["nvda_2023_10_17"]["price_curve"]["tick"]) <= 602  # 23,401 ticks, reduced


def test_the_price_path_does_not_depend_on_the_chunking():
    whole = run_scenario("data_corruption_shock").price_index
    for chunk in (1, 37, 600):
        assert (
            run_scenario("data_corruption_shock", chunk_ticks=chunk).price_index.tobytes() == whole.tobytes()
        )


# --- every chart ----------------------------------------------------------------------------------


def all_charts(runs):
    tests = fault_tests()
    rng = np.random.default_rng(7)
    for name, rec in runs.items():
        for fn in RUN_CHARTS:
            yield f"{fn.__name__}:{name}", fn, (rec,)
    yield "fault_matrix_chart", charts.fault_matrix_chart, (tests,)
    yield "weakest_chart", charts.weakest_chart, (list(runs.values()),)
    yield "latency_chart", charts.latency_chart, (rng.lognormal(0.3, 0.7, 50_000), 10.0)
    yield "latency_chart:hdr", charts.latency_chart, ({"p50": 1.1, "p99": 7.5, "p99.9": 20.0, "max": 31.0},)


def test_every_chart_is_embeddable_svg_within_its_budget_and_deterministic(runs):
    sizes = {}
    for label, fn, args in all_charts(runs):
        svg = fn(*args)
        assert svg, label
        assert_embeddable(svg)
        sizes[label] = len(svg.encode())
        assert fn(*args) == svg, f"{label}: the same data gave other bytes"
    over = {k: v for k, v in sizes.items() if v > BUDGET}
    assert not over, over


def test_charts_are_the_same_bytes_in_another_process(runs):
    """No hash-seed-dependent ordering, no date, no random ids: a fresh interpreter draws the same SVG."""
    import json

    rec = runs["black_swan_combo"]
    code = (
        "import json, sys; from pytest_stress.certify import charts; rec = json.load(sys.stdin); "
        "sys.stdout.write(charts.equity_drawdown_chart(rec) + charts.risk_events_chart(rec))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(rec),
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert out == charts.equity_drawdown_chart(rec) + charts.risk_events_chart(rec)


def test_different_charts_do_not_share_element_ids(runs):
    ids = [
        set(re.findall(r'\sid="([^"]+)"', fn(rec)))
        for rec in runs.values()
        for fn in RUN_CHARTS
        if rec.get("events") or fn is not charts.risk_events_chart
    ]
    hashed = [{i for i in s if re.fullmatch(r"[pm][0-9a-f]{8,}", i)} for s in ids]
    for i, a in enumerate(hashed):
        for b in hashed[i + 1 :]:
            assert not a & b


# --- what each chart says -------------------------------------------------------------------------


def test_price_chart_names_the_scenario_and_shows_a_stress_that_starts_at_tick_0(runs):
    rec = runs["flash_crash_lite"]
    assert rec["stresses"][0]["start_tick"] == 0
    words = " ".join(texts(charts.price_chart(rec)))
    assert "flash_crash_lite" in words
    assert "flash_crash  0\u201360 s" in words  # the window's own bar above the chart
    assert "low -3.00 %" in words


def test_equity_chart_draws_the_breakers_the_kill_switch_and_the_breaches(runs):
    rec = runs["black_swan_combo"]
    assert rec["kill_switch_triggered"]
    assert rec["breaches"]
    words = texts(charts.equity_drawdown_chart(rec))
    joined = " ".join(words)
    assert "strategy breaker 5 %" in words
    assert "portfolio breaker 10 %" in words
    assert "max_drawdown_pct limit 20 %" in words  # the scenario's own limit, another level
    assert "KILL_SWITCH" in joined
    assert "breach" in joined
    assert "max drawdown 64.23 %" in joined
    calm = texts(charts.equity_drawdown_chart(runs["nvda_2023_10_17"], breakers={"desk stop": 2.5}))
    assert "desk stop 2.5 %" in calm
    assert "kill switch" not in " ".join(calm)


def test_risk_events_chart_has_a_row_per_kind_and_says_what_the_record_left_out(runs):
    words = texts(charts.risk_events_chart(runs["black_swan_combo"]))
    kinds = {e["event"] for e in runs["black_swan_combo"]["events"]}
    assert "KILL_SWITCH" in kinds
    rows = [w for w in words if re.fullmatch(r"[A-Z_]+ \(\d+\)", w)]
    assert {r.split(" ")[0] for r in rows} == kinds
    assert rows[0].startswith("KILL_SWITCH ")  # the most severe on top
    ftx = runs["ftx_collapse_2022"]
    assert ftx["events_total"] > len(ftx["events"])
    words = " ".join(texts(charts.risk_events_chart(ftx)))
    assert f"first {len(ftx['events'])} of {ftx['events_total']} events" in words
    assert "not in the record" in words
    halts = texts(charts.risk_events_chart(runs["flash_crash_lite"]))
    assert any(w.startswith("HALT_PARTIAL (") for w in halts)


def test_fault_matrix_is_a_labelled_scenario_by_fault_grid():
    svg = charts.fault_matrix_chart(fault_tests())
    words = texts(svg)
    for label in ("flash_crash_lite", "ftx_collapse_2022", "(no scenario in id)"):
        assert label in words
    for fault in ("market_data drop", "broker outage x2", "broker latency", "broker outage"):
        assert fault in words
    # cells: ftx x drop failed, ftx x outage x2 skipped; flash x latency had an error and a pass: the worst
    # outcome shows, with the count (a line of its own)
    cells = words[
        words.index("(no scenario in id)") + 1 : words.index("Fault matrix · scenario x injected fault")
    ]
    assert sorted(cells) == sorted(["error", "1/2 passed", "passed", "passed", "skipped", "failed", "passed"])
    assert words[-4:] == ["error", "failed", "skipped", "passed"]  # the legend, worst first
    assert "7 tests with faults" in words
    assert charts.fault_matrix_chart([t for t in fault_tests() if "faults" not in t]) == ""


def test_scenario_of_reads_the_node_id_parameters():
    assert charts.scenario_of("t.py::test_x[flash_crash_lite-latency]") == "flash_crash_lite"
    assert charts.scenario_of("t.py::test_x[latency-ftx_collapse_2022]") == "ftx_collapse_2022"
    assert charts.scenario_of("t.py::test_x[latency]") is None
    assert charts.scenario_of("t.py::test_x") is None
    assert charts.scenario_of("t.py::test_x[reference-mine]", scenarios=["mine"]) == "mine"
    assert charts.fault_label([{"service": "broker", "mode": "outage"}] * 2) == ("broker", "broker outage x2")


def test_weakest_chart_ranks_failed_checks_then_drawdown_and_skips_uncertified_runs(runs):
    recs = list(runs.values())
    recs.append({**runs["nvda_2023_10_17"], "scenario": "practice_run", "certified": False})
    words = texts(charts.weakest_chart(recs))
    order = [w for w in words if w in runs]
    dd = {n: r["max_drawdown_pct"] for n, r in runs.items()}
    failed = {n: sum(c["status"] == "failed" for c in r["checks"]) for n, r in runs.items()}
    assert order == sorted(runs, key=lambda n: (-failed[n], -dd[n], n))
    assert order[0] == "black_swan_combo"
    assert "practice_run" not in " ".join(words)
    assert "NO-GO" in words
    assert charts.weakest_chart([{**recs[0], "certified": False}]) == ""


def test_weakest_chart_tells_repeated_scenarios_apart(runs):
    a = runs["flash_crash_lite"]
    words = texts(charts.weakest_chart([a, {**a, "symbols": 10}]))
    assert "flash_crash_lite (100 sym, seed 42)" in words
    assert "flash_crash_lite (10 sym, seed 42)" in words


def test_latency_percentiles_are_observed_values_and_mappings_are_read():
    table = charts.latency_percentiles(np.arange(1, 1001, dtype=float))
    assert table == {"p50": 500.0, "p90": 900.0, "p95": 950.0, "p99": 990.0, "p99.9": 999.0, "max": 1000.0}
    hdr = charts.latency_percentiles({"p99": 8.0, 50: 1.0, "99.9%": 20.0, "max": 30.0, "count": 7})
    assert list(hdr.items()) == [("p50", 1.0), ("p99", 8.0), ("p99.9", 20.0), ("max", 30.0)]
    words = " ".join(texts(charts.latency_chart(np.full(10, 2.0), budget_ms=1.0)))
    assert "budget 1.00 ms" in words
    assert "p99" in words
    assert charts.latency_chart([]) == ""
    assert charts.latency_chart([np.nan]) == ""


def test_nothing_to_draw_gives_an_empty_string(runs):
    bare = {"scenario": "x", "n_ticks": 1, "tick_ms": 100, "equity_curve": {"tick": [0], "equity": [1.0]}}
    assert (
        charts.price_chart(bare) == charts.equity_drawdown_chart(bare) == charts.risk_events_chart(bare) == ""
    )
    assert charts.fault_matrix_chart([]) == charts.weakest_chart([]) == ""


def test_png_rendering_for_a_look(runs, tmp_path):
    png = charts.to_png(charts.price_chart, runs["flash_crash_lite"])
    assert png.startswith(b"\x89PNG")
    assert charts.to_png(charts.weakest_chart, []) == b""


def test_matplotlib_is_loaded_by_drawing_only():
    code = (
        "import sys, pytest_stress.plugin, pytest_stress.certify.charts; "
        "assert 'matplotlib' not in sys.modules and 'numpy' not in sys.modules, 'heavy at import'; "
        "from pytest_stress.certify import charts; charts.latency_chart([1.0, 2.0]); "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
