"""The pytest face of pytest-trading-stress: options, markers and hooks, each handing off to the module that
does the work (settings: ``options``; fixtures: ``fixtures/``; the report: ``certify/``).

Nothing imports this module, and it imports nothing heavy (numba, pandas), so an unrelated pytest run
does not pay for the replay core.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_stress.errors import StressError

if TYPE_CHECKING:
    from pytest_stress.certify.session import CertificationSession

_RECORDER_NAME = "pytest_stress.recorder"
_MARKER_KWARGS = {"name", "library", "symbols", "seed"}

MARKERS = (
    "stress: a stress or chaos test of the trading stack (select with -m stress)",
    "stress_scenario(name=None, *, library=False, symbols=None, seed=None): replay a scenario for the "
    "stress_run fixture; library=True runs the test once per library scenario. Implies 'stress'.",
    "inject_failure(service, *, mode='outage', rate=1.0, window='test', duration_s=None, value=None, "
    "stream='downstream', attributes=None): a fault on the service of fixture <service>_service during "
    "the test: a Toxiproxy toxic (latency, bandwidth, slow_close, timeout, reset_peer, slicer, "
    "limit_data), a disabled proxy (outage) or a feed fault (drop, reorder, duplicate, corrupt). "
    "Implies 'stress'.",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stress", "trading stress certification (pytest-trading-stress)")
    group.addoption(
        "--stress-report",
        action="append",
        default=[],
        metavar="FORMAT[:PATH]",
        help="write the certification report: html or json, optionally :PATH "
        "(default reports/stress/certification.html / .json); repeatable",
    )
    group.addoption(
        "--stress-seed",
        type=int,
        default=None,
        metavar="SEED",
        help="replay every scenario with SEED instead of the seed in its file (default: file seed)",
    )
    group.addoption(
        "--stress-scenarios",
        action="append",
        default=[],
        metavar="DIR",
        help="add the scenario YAML files in DIR to the library; a name in DIR shadows a bundled "
        "one (repeatable; ini: stress_scenarios)",
    )
    group.addoption(
        "--stress-profile",
        choices=("ci", "nightly"),
        default=None,
        help="ci: compressed runbook durations; nightly: real durations (default ci). Recorded "
        "in the report; in this version no scenario has a wall-clock duration to compress",
    )
    group.addoption(
        "--stress-time-scale",
        type=float,
        default=None,
        metavar="FACTOR",
        help="divide runbook durations (inject_failure windows) by FACTOR (default 1 nightly, 10 ci); "
        "recorded in the report",
    )
    group.addoption(
        "--toxiproxy-url",
        default=None,
        metavar="URL",
        help="the Toxiproxy server of the toxiproxy fixture and @inject_failure (default: "
        "toxiproxy-server on PATH, started on a free loopback port, else the embedded server)",
    )
    group.addoption(
        "--stress-stack",
        action="append",
        default=[],
        metavar="MODULE:FACTORY",
        help="certify the stack that FACTORY builds (a callable taking a StackContext, returning a "
        "TradingStack); repeatable, the runbook suite then runs once per stack "
        "(default: the bundled reference stack; ini: stress_stack)",
    )
    group.addoption(
        "--stress-runbook",
        action="store_true",
        default=False,
        help="also collect the bundled runbook suite (seed 001/002/004 promises) so it certifies "
        "the stack in use without copying any test file",
    )
    group.addoption(
        "--stress-waivers",
        default=None,
        metavar="FILE",
        help="a YAML file of waivers (check: SCENARIO.METRIC, reason, until: YYYY-MM-DD) a risk officer "
        "signed; a waived check shows as waived and leaves the verdict until it expires "
        "(default: none; ini: stress_waivers)",
    )
    parser.addini("stress_scenarios", "extra scenario directories, one per line", type="paths", default=[])
    parser.addini("stress_waivers", "the waivers file (see --stress-waivers)", type="paths", default=[])
    parser.addini(
        "stress_stack", "stack factories to certify (MODULE:FACTORY), one per line", type="linelist"
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    from pytest_stress import options
    from pytest_stress.certify.session import CertificationSession, parse_report_targets
    from pytest_stress.specs.waivers import load_waivers

    base = Path(config.invocation_params.dir)
    try:
        targets = parse_report_targets(config.getoption("stress_report") or [], base)
        settings = options.from_config(config)
        waivers = load_waivers(settings.waivers_file) if settings.waivers_file else ()
    except StressError as exc:
        raise pytest.UsageError(str(exc)) from None
    # xdist workers record, the controller writes: workers get no report targets.
    if hasattr(config, "workerinput"):
        targets = []
    config.pluginmanager.register(
        _Recorder(config, CertificationSession(targets, settings.to_dict(), base, waivers)), _RECORDER_NAME
    )
    from pytest_stress.fixtures import fixture_modules

    for module in fixture_modules():
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, module.__name__)
    if config.getoption("stress_runbook"):
        from pytest_stress.runbook import suite_files

        config.args.extend(str(p) for p in suite_files())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from pytest_stress.certify.session import PROMISE_PROPERTY, promise_of

    for item in items:
        if item.get_closest_marker("stress_scenario") or item.get_closest_marker("inject_failure"):
            item.add_marker(pytest.mark.stress)
        if item.get_closest_marker("stress") is not None:
            promise = promise_of(getattr(item, "obj", None))
            if promise:  # the report shows what each stress test checks, from its docstring
                item.user_properties.append((PROMISE_PROPERTY, promise))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "stress_stack_spec" in metafunc.fixturenames:
        from pytest_stress.fixtures.stack import spec_id, stack_specs

        specs = stack_specs(metafunc.config)
        metafunc.parametrize("stress_stack_spec", specs, indirect=True, ids=[spec_id(s) for s in specs])
    marker = metafunc.definition.get_closest_marker("stress_scenario")
    if marker is None or "stress_scenario" not in metafunc.fixturenames:
        return
    unknown = set(marker.kwargs) - _MARKER_KWARGS
    if unknown:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: stress_scenario marker got unknown "
            f"argument(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_MARKER_KWARGS))}"
        )
    if marker.kwargs.get("library"):
        from pytest_stress.options import scenario_dirs
        from pytest_stress.scenario import library_names

        names = library_names(scenario_dirs(metafunc.config))
        metafunc.parametrize("stress_scenario", names, indirect=True, ids=names)


def pytest_unconfigure(config: pytest.Config) -> None:
    from pytest_stress.fixtures import FIXTURE_MODULES

    for name in (_RECORDER_NAME, *FIXTURE_MODULES):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


class _Recorder:
    """Feeds test reports to the certification session, writes the reports, prints the verdict."""

    def __init__(self, config: pytest.Config, state: CertificationSession) -> None:
        from pytest_stress.certify.trace import cli_options

        self.config = config
        self.state = state
        self.written: list[Path] = []
        self.write_error: str | None = None
        state.rootdir = Path(config.rootpath)
        state.cli_options = cli_options(config.getoption)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.state.set_collected(item.nodeid for item in session.items if "stress" in item.keywords)

    @pytest.hookimpl(tryfirst=True)  # before xdist's worker serialises the report for the controller
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if hasattr(self.config, "workerinput"):
            self.state.announce_collected(report)
        self.state.add_report(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput") or not self.state.targets:
            return
        from pytest_stress.certify import environment

        self.state.finish(exitstatus)
        try:
            self.written = self.state.write(environment.collect(self.state.cwd, self.state.options))
        except StressError as exc:
            self.write_error = str(exc)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            return
        # a certification exits as the command line does: 0 only on GO, 1 NO-GO, 3 INCOMPLETE
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = self.state.verdict().exit_code

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or not (self.state.active or self.state.targets):
            return
        verdict = self.state.verdict()
        tr = terminalreporter
        tr.section("stress certification", bold=True)
        colour = {
            "green": verdict.go,
            "red": verdict.decision == "NO-GO",
            "yellow": verdict.decision == "INCOMPLETE",
        }
        tr.write_line(f"verdict: {verdict.decision}", bold=True, **colour)
        for reason in verdict.reasons:
            tr.write_line(f"  {reason}")
        for caveat in verdict.caveats:
            tr.write_line(f"  not covered: {caveat}", yellow=True)
        not_run = self.state.not_run()
        if not_run:
            tr.write_line(f"  not run: {len(not_run)} collected stress test(s)", yellow=True)
        for path in self.written:
            tr.write_line(f"report: {os.path.relpath(path, self.config.invocation_params.dir)}")
        if self.state.journal_written is not None:
            where = os.path.relpath(self.state.journal_written, self.config.invocation_params.dir)
            tr.write_line(f"journal: {where} (entry appended)")
        if self.write_error:
            tr.write_line(f"report NOT written: {self.write_error}", red=True)
