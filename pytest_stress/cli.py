"""The ``pytest-stress`` command line: list, show and validate scenarios; run one or a batch to a verdict.

Exit codes: 0 success (or GO), 1 NO-GO, 2 bad input (unknown scenario, invalid file, bad option),
3 INCOMPLETE (nothing failed, but a required check was not evaluated). The verdict is
``pytest_stress.verdict.decide``'s, the same as the certification report's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_stress import __version__
from pytest_stress.errors import ScenarioError, ScenarioNotFound, StressError
from pytest_stress.metrics import METRICS
from pytest_stress.scenario import Scenario, load_scenario, load_scenario_file, scenario_library
from pytest_stress.specs.common import MAX_SEED  # the schema's bound: numpy's SeedSequence refuses negatives
from pytest_stress.specs.waivers import load_waivers
from pytest_stress.verdict import Verdict, decide, decide_result, record_of

if TYPE_CHECKING:
    from pytest_stress.run.result import ScenarioResult

PROG = "pytest-stress"

EXIT_OK = 0
EXIT_NO_GO = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: not 1, which would read as NO-GO

# `scenarios list` keeps each row within this many columns; the description gives way first.
TABLE_WIDTH = 100


class _Usage(StressError):
    """A bad command-line value found after parsing (argparse cannot express it as a type)."""


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _report_stress_error(exc: StressError) -> None:
    if isinstance(exc, ScenarioError):
        # Keep each problem at the start of its own line so editors and CI annotators can jump to it.
        n = len(exc.problems)
        _error(f"invalid {exc.what} ({n} problem{'s' if n != 1 else ''}):")
        print(str(exc), file=sys.stderr)
    else:
        _error(str(exc))


# --- scenarios list / show ------------------------------------------------------------------------


def _stress_types(sc: Scenario) -> str:
    # A scenario may stack the same stress type twice; the table says which kinds, not how many.
    return ",".join(dict.fromkeys(s.type for s in sc.stress)) or "-"


def _truncate(text: str, width: int) -> str:
    text = " ".join(text.split())  # a folded YAML description may carry newlines
    if len(text) <= width:
        return text
    return text[: max(width - 3, 0)] + "..."


def _duration(seconds: float) -> str:
    """``60s``, ``45m``, ``6.5h``, ``5d3h``: the market's length at a glance."""
    if seconds < 600:
        return f"{seconds:g}s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.3g}m"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.3g}h"
    days, rest = divmod(round(seconds), 86_400)
    return f"{days}d{round(rest / 3600)}h" if rest >= 1800 else f"{days}d"


def _cmd_scenarios_list(args: argparse.Namespace) -> int:
    library = scenario_library(args.scenarios)
    if args.type:
        library = [sc for sc in library if sc.type.value == args.type]
    if args.tag:
        library = [sc for sc in library if all(t in sc.tags for t in args.tag)]
    header = ("NAME", "TYPE", "SYMBOLS", "DURATION", "SOURCE", "DESCRIPTION")
    rows = [
        (
            sc.name,
            sc.type.value,
            str(sc.market.symbols) if sc.market.historic is None or sc.market.historic.names else "file",
            _duration(sc.market.duration_s) if sc.market.duration_s else "file",
            sc.provenance_kind,
            sc.description,
        )
        for sc in library
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    used = sum(widths) + 2 * 5
    desc_width = max(TABLE_WIDTH - used, 20)
    for row in [header, *rows]:
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4].ljust(widths[4]),
            _truncate(row[5], desc_width),
        ]
        print("  ".join(cells).rstrip())
    if not rows:
        print("(no scenarios)")
    return EXIT_OK


def _cmd_scenarios_show(args: argparse.Namespace) -> int:
    import yaml

    sc = load_scenario(args.scenario, extra_dirs=args.scenarios)
    print(f"# source: {sc.source}")
    sys.stdout.write(yaml.safe_dump(sc.to_dict(), sort_keys=False))
    return EXIT_OK


# --- validate -------------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        # Every file is checked even after a bad one, so one run lists all that needs fixing.
        try:
            sc = load_scenario_file(path)
        except ScenarioError as exc:
            print(str(exc), file=sys.stderr)
            status = EXIT_USAGE
        except ScenarioNotFound as exc:
            print(str(exc), file=sys.stderr)
            status = EXIT_USAGE
        else:
            print(f"{path}: ok ({sc.name})")
    return status


# --- ingest ---------------------------------------------------------------------------------------


def _cmd_ingest(args: argparse.Namespace) -> int:
    columns: dict[str, str] = {}
    for item in args.column:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise _Usage(f"--column wants FIELD=NAME (e.g. price=close), got {item!r}")
        columns[key] = value
    # Imported here: pandas and pyarrow are heavy and only this command needs them.
    from pytest_stress.market.historic import ingest

    report, sha = ingest(
        args.input,
        args.out,
        columns=columns,
        tz=args.tz,
        spread_bps=args.spread_bps,
        max_gap_s=args.max_gap_s,
    )
    print(f"{args.input}: data quality")
    for line in report.lines():
        print(f"  {line}")
    print(
        f"wrote {args.out} (sorted by time; duplicates, NaNs and crossed books kept for the replay to flag)"
    )
    print(f"dataset version: sha256 {sha}")
    print(f"pin it in a scenario: market: {{source: historic, path: {args.out}, sha256: {sha}}}")
    return EXIT_OK if report.clean or not args.strict else EXIT_NO_GO


# --- run ------------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Non-finite floats become strings, as ScenarioResult.to_dict already does for some fields.

    json.dumps would otherwise write bare NaN/Infinity, which strict JSON parsers reject.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _fmt(value: float, spec: str, unit: str = "") -> str:
    return f"{value:{spec}}{unit}" if math.isfinite(value) else str(value)


def _summary(result: ScenarioResult, verdict: Verdict) -> str:
    from pytest_stress.checks import CheckStatus

    tick_s = result.tick_ms / 1000.0
    rows: list[tuple[str, str]] = [
        ("scenario", f"{result.scenario} ({result.source})" if result.source else result.scenario),
        ("seed", str(result.seed)),
        ("symbols", str(result.symbols)),
        ("ticks", f"{result.n_ticks} x {result.tick_ms} ms ({(result.n_ticks - 1) * tick_s:g} s)"),
        ("runtime", f"{result.runtime_ms:.1f} ms"),
        ("max drawdown", _fmt(result.max_drawdown_pct, ".3f", " %")),
        ("VaR multiple", _fmt(result.var_multiple, ".3f", "x")),
        ("position delta", _fmt(result.position_delta_pct, ".3f", " %")),
        ("1-day VaR", f"{_fmt(result.var_1d, ',.2f')} ({result.var_confidence:.0%} confidence)"),
    ]
    if result.kill_switch_triggered and result.kill_switch_tick is not None:
        kill = f"FIRED at tick {result.kill_switch_tick} ({result.kill_switch_tick * tick_s:g} s)"
    else:
        kill = "not fired"
    rows.append(("kill switch", kill))
    rows.append(("breaches", str(len(result.breaches)) if result.breaches else "none"))
    m = result.metrics
    rows.append(("trading", f"{m['total_trades']} trades, {m['execution_failures']} execution failures"))
    if result.events:
        counts = Counter(e.event for e in result.events)
        rows.append(("events", ", ".join(f"{name} x{n}" for name, n in counts.items())))

    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{(k + ':').ljust(width)} {v}" for k, v in rows]
    for b in result.breaches:
        unit = METRICS[b.metric].unit if b.metric in METRICS else ""
        lines.append(
            f"  {b.metric} at tick {b.tick} ({b.time_ms / 1000:g} s): "
            f"measured {_fmt(b.measured, '.4g', unit)} above limit {b.limit:g}{unit}"
        )
    lines.append("checks:" if result.checks else "checks: none (the scenario has no expect: block)")
    label = {CheckStatus.PASSED: "PASS", CheckStatus.FAILED: "FAIL", CheckStatus.NOT_EVALUATED: "N/A "}
    lines.extend(f"  {label[c.status]} {c.line()}" for c in result.checks)
    if verdict.waived:
        lines.append("waived:")
        lines.extend(f"  {line}" for line in verdict.waived)
    if not verdict.go:
        lines.append("why:")
        lines.extend(f"  {reason}" for reason in verdict.reasons)
    lines.append(f"verdict: {verdict.decision}")
    return "\n".join(lines)


def _cmd_run(args: argparse.Namespace) -> int:
    if args.symbols is not None and args.symbols < 1:
        raise _Usage(f"--symbols must be at least 1, got {args.symbols}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise _Usage(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    sc = load_scenario(args.scenario, extra_dirs=args.scenarios)
    waivers = load_waivers(args.waivers) if args.waivers else ()

    # Imported here: the replay core pulls in numba, which the other sub-commands never need.
    from pytest_stress.run.scenario import run_scenario

    result = run_scenario(sc, symbols=args.symbols, seed=args.seed)
    verdict = decide_result(result, waivers)
    if args.json:
        doc = result.to_dict()
        doc["verdict"] = verdict.decision
        doc["waived"] = list(verdict.waived)
        print(json.dumps(_json_safe(doc), indent=2, allow_nan=False))
    else:
        print(_summary(result, verdict))
    return verdict.exit_code


# --- batch ----------------------------------------------------------------------------------------


def _cmd_batch(args: argparse.Namespace) -> int:
    if args.symbols is not None and args.symbols < 1:
        raise _Usage(f"--symbols must be at least 1, got {args.symbols}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise _Usage(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    if args.workers is not None and args.workers < 1:
        raise _Usage(f"--workers must be at least 1, got {args.workers}")
    if args.workers is not None and (args.serial or args.dask):
        raise _Usage("--workers sets the local pool's size; it has no effect with --serial or --dask")
    waivers = load_waivers(args.waivers) if args.waivers else ()
    names: list[str | Path] = list(args.names)
    if args.all:
        from pytest_stress.scenario import library_names

        names = [*library_names(args.scenarios), *names]
    if not names:
        raise _Usage("no scenarios to run: give NAME_OR_PATH arguments, or --all for the whole library")

    # Imported here: the runner's workers and the replay core pull in numba.
    from pytest_stress.run.batch import (
        ScenarioFailure,
        StressTestRunner,
        generate_summary,
        print_summary,
        verdict,
    )

    runner = StressTestRunner(max_workers=args.workers, address=args.dask, progress=not args.quiet)
    results = runner.run_batch(
        names, parallel=not args.serial, symbols=args.symbols, seed=args.seed, scenario_dirs=args.scenarios
    )
    failures = [r for r in results.values() if isinstance(r, ScenarioFailure)]
    batch_verdict = decide(
        [record_of(r) for r in results.values() if not isinstance(r, ScenarioFailure)],
        errors=[f.to_dict() for f in failures],
        waivers=waivers,
    )
    if args.json:
        doc = {
            "verdict": batch_verdict.to_dict(),
            "summary": generate_summary(results, waivers),
            "results": {key: {**r.to_dict(), "verdict": verdict(r, waivers)} for key, r in results.items()},
        }
        print(json.dumps(_json_safe(doc), indent=2, allow_nan=False))
    else:
        print_summary(results, waivers=waivers)
        for line in batch_verdict.waived:
            print(f"waived: {line}")
        print(f"verdict: {batch_verdict.decision}")
    return EXIT_USAGE if failures else batch_verdict.exit_code


# --- parser ---------------------------------------------------------------------------------------


def _add_waivers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--waivers",
        metavar="FILE",
        default=None,
        help="a YAML file of waivers (check: SCENARIO.METRIC, reason, until: YYYY-MM-DD), as pytest's "
        "--stress-waivers: a waived check leaves the verdict until it expires (default: none)",
    )


def _add_scenario_dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenarios",
        metavar="DIR",
        action="append",
        default=[],
        type=Path,
        help="extra directory of scenario YAML files, searched after the bundled library; a name found "
        "there shadows a bundled one; repeat for several (default: bundled library only)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Replay market stress scenarios against a portfolio and certify the result GO / NO-GO.",
        epilog="exit codes: 0 success or GO, 1 NO-GO, 2 bad input, 3 INCOMPLETE (a required check was "
        "not evaluated)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scen = sub.add_parser("scenarios", help="list or show library scenarios")
    scen.set_defaults(parser=scen)
    scen_sub = scen.add_subparsers(dest="scenarios_command", metavar="ACTION")
    p_list = scen_sub.add_parser(
        "list",
        help="table of every library scenario",
        description="One row per scenario: name, type, symbols, market duration, where the market comes "
        "from (synthetic, reconstruction, historic, dataset), description.",
    )
    p_list.add_argument(
        "--type", metavar="TYPE", default=None, help="only scenarios of this type (seed 003 types)"
    )
    p_list.add_argument(
        "--tag",
        metavar="TAG",
        action="append",
        default=[],
        help="only scenarios carrying TAG (repeat: all of them)",
    )
    _add_scenario_dirs(p_list)
    p_list.set_defaults(func=_cmd_scenarios_list)
    p_show = scen_sub.add_parser(
        "show",
        help="print one scenario as YAML, defaults filled in",
        description="Print a scenario as YAML with every default filled in, after a '# source:' line.",
    )
    p_show.add_argument("scenario", metavar="NAME_OR_PATH", help="library name or path to a YAML file")
    _add_scenario_dirs(p_show)
    p_show.set_defaults(func=_cmd_scenarios_show)

    p_val = sub.add_parser(
        "validate",
        help="check scenario files (exit 2 if any is invalid)",
        description="Check each file; print 'FILE: ok (NAME)' on stdout, or one 'FILE:LINE: key: problem' "
        "line per problem on stderr. Exit 0 if all are valid, 2 otherwise.",
    )
    p_val.add_argument("files", metavar="FILE", nargs="+", help="scenario YAML file")
    p_val.set_defaults(func=_cmd_validate)

    p_ing = sub.add_parser(
        "ingest",
        help="convert CSV ticks or bars to Parquet and report their quality",
        description="Read INPUT (CSV or Parquet; one row per timestamp and symbol), check it (order, duplicates, "
        "NaNs, gaps, crossed books), write a time-sorted Parquet file and print its SHA-256 - the dataset "
        "version a scenario can pin. Exit 0, or 1 with --strict when the data has problems, 2 on bad input.",
    )
    p_ing.add_argument("input", metavar="INPUT", help="CSV or Parquet file")
    p_ing.add_argument("--out", metavar="OUT.parquet", required=True, help="Parquet file to write")
    p_ing.add_argument(
        "--column",
        metavar="FIELD=NAME",
        action="append",
        default=[],
        help="the file's column for FIELD (timestamp, symbol, bid, ask, price, volume, funding_rate); "
        "default: common names (time, ticker, close, size, ...)",
    )
    p_ing.add_argument(
        "--tz",
        default="UTC",
        help="time zone of timestamps written without one (default UTC), e.g. America/New_York",
    )
    p_ing.add_argument(
        "--spread-bps",
        type=float,
        default=1.0,
        metavar="BPS",
        help="quoted spread around a price when the file has no bid and ask, in bps (default 1)",
    )
    p_ing.add_argument(
        "--max-gap-s",
        type=float,
        default=None,
        metavar="S",
        help="a pause longer than S seconds between rows is a gap (default: 5x the median step)",
    )
    p_ing.add_argument("--strict", action="store_true", help="exit 1 when the data has any quality problem")
    p_ing.set_defaults(func=_cmd_ingest)

    p_run = sub.add_parser(
        "run",
        help="replay a scenario and print its verdict",
        description="Replay a scenario and check its expect: block. Exit 0 on GO, 1 on NO-GO, "
        "2 on bad input, 3 on INCOMPLETE (a check the replay cannot measure is never a pass).",
    )
    p_run.add_argument("scenario", metavar="NAME_OR_PATH", help="library name or path to a YAML file")
    p_run.add_argument(
        "--symbols",
        metavar="N",
        type=int,
        default=None,
        help="number of symbols to replay, at least 1 (default: the scenario's market.symbols)",
    )
    p_run.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=None,
        help="random seed of the synthetic market, 0 or more (default: the scenario's market.seed)",
    )
    p_run.add_argument(
        "--json",
        action="store_true",
        help='print one JSON document (the result, with its "verdict") instead of the summary; '
        "percentages are in percent, money in the portfolio's currency, times in ms",
    )
    _add_scenario_dirs(p_run)
    _add_waivers(p_run)
    p_run.set_defaults(func=_cmd_run)

    p_batch = sub.add_parser(
        "batch",
        help="replay many scenarios, in parallel, and summarise them",
        description="Replay several scenarios (names, paths, or --all) on a local process pool, in this "
        "process (--serial) or on a Dask cluster (--dask), then print one row per scenario and the "
        "batch's summary. A scenario that cannot run is reported and the others still run. Exit 0 if "
        "every scenario is GO, 1 if any is NO-GO, 3 if none failed but one is INCOMPLETE, 2 on bad input "
        "or if any scenario could not run.",
    )
    p_batch.add_argument(
        "names",
        metavar="NAME_OR_PATH",
        nargs="*",
        help="library name or path to a YAML file; a scenario given twice runs twice",
    )
    p_batch.add_argument(
        "--all", action="store_true", help="run every library scenario (and those in --scenarios dirs)"
    )
    where = p_batch.add_mutually_exclusive_group()
    where.add_argument(
        "--serial", action="store_true", help="run in this process, one after the other (default: a pool)"
    )
    where.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run on the Dask cluster whose scheduler is at ADDRESS, e.g. tcp://10.0.0.5:8786 "
        "(needs `pip install pytest-trading-stress[dask]`; default: a local pool)",
    )
    p_batch.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=None,
        help="processes of the local pool, at least 1 (default: the CPU count, at most one per scenario)",
    )
    p_batch.add_argument(
        "--symbols",
        metavar="N",
        type=int,
        default=None,
        help="number of symbols to replay in every scenario, at least 1 (default: each scenario's own)",
    )
    p_batch.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=None,
        help="random seed for every scenario's synthetic market, 0 or more (default: each scenario's own)",
    )
    p_batch.add_argument(
        "--json",
        action="store_true",
        help='print one JSON document {"summary": ..., "results": {KEY: result or error}} instead of the '
        "table; percentages are in percent, times in ms",
    )
    p_batch.add_argument(
        "--quiet", action="store_true", help="no progress line on stderr per finished scenario"
    )
    _add_scenario_dirs(p_batch)
    _add_waivers(p_batch)
    p_batch.set_defaults(func=_cmd_batch)

    p_tox = sub.add_parser(
        "toxiproxy",
        add_help=False,  # its own options and --help belong to the server's parser
        help="run the embedded Toxiproxy-compatible server on 127.0.0.1 (--port, default 8474)",
    )
    p_tox.add_argument("server_args", nargs=argparse.REMAINDER)
    p_tox.set_defaults(func=_cmd_toxiproxy)
    return parser


def _cmd_toxiproxy(args: argparse.Namespace) -> int:
    from pytest_stress.faults.toxiproxy_server import main as serve

    try:
        return serve(args.server_args)
    except SystemExit as exc:  # --help and usage errors of the server's own parser
        return _exit_status(exc.code)


def _exit_status(code: Any) -> int:
    """argparse exits with SystemExit; turn its code into the int main() promises."""
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["toxiproxy"]:  # the server parses its own options (argparse cannot pass them through)
        return _cmd_toxiproxy(argparse.Namespace(server_args=argv[1:]))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors; callers get a code, not an exit
        return _exit_status(exc.code)
    func = getattr(args, "func", None)
    if func is None:
        # A command group without its action (`pytest-stress scenarios`) shows that group's help.
        getattr(args, "parser", parser).print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return func(args)
    except StressError as exc:
        _report_stress_error(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (`| head`) went away; silence the second error Python raises at shutdown.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


__all__ = ["build_parser", "main"]
