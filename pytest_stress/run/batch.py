"""Batch runs of many scenarios (seed 003's StressTestRunner) and the summary of their results.

Where each scenario runs: in worker processes of a local pool by default (started with 'forkserver' or
'spawn', never 'fork'), in this process with ``parallel=False``, or on a Dask cluster with ``address=``.
Scenario files are always read here, in the calling process; workers only replay.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pytest_stress.errors import ClusterUnavailable, DaskNotInstalled
from pytest_stress.run.summary import (
    Outcome,
    ScenarioFailure,
    first_line,
    generate_summary,
    print_summary,
    verdict,
)
from pytest_stress.scenario import Scenario, load_scenario

DASK_HINT = "pip install pytest-trading-stress[dask]"

# Seconds to wait for a Dask scheduler given by address before giving up.
CONNECT_TIMEOUT_S = 10.0

# What a pool worker imports to replay; the forkserver loads it once for all workers.
_PRELOAD = ("pytest_stress.run.scenario", "pytest_stress.run.batch")


@dataclass(frozen=True)
class BatchProgress:
    """One finished scenario, as reported to a ``progress`` callable: ``done`` of ``total`` so far."""

    done: int
    total: int
    key: str
    outcome: Outcome
    seconds: float  # wall time of this scenario where it ran (the replay, not the queue)

    @property
    def verdict(self) -> str:
        return verdict(self.outcome)


def print_progress(event: BatchProgress) -> None:
    """The default progress line on stderr: ``[ 3/8] GO     flash_crash_lite#3 (0.05 s)``."""
    width = len(str(event.total))
    line = f"[{event.done:>{width}}/{event.total}] {event.verdict:<6} {event.key} ({event.seconds:.2f} s)"
    if isinstance(event.outcome, ScenarioFailure):
        line += f": {event.outcome.error_type}: {first_line(event.outcome.message)}"
    print(line, file=sys.stderr, flush=True)


# --- the work unit: what a worker receives and returns --------------------------------------------


@dataclass(frozen=True)
class _Job:
    index: int  # position in the batch as given: results come back in that order
    scenario: Scenario
    symbols: int | None
    seed: int | None
    keep_curves: bool


@dataclass(frozen=True)
class _Done:
    index: int
    outcome: Outcome
    seconds: float


def _run_job(job: _Job) -> _Done:
    """Replay one scenario; runs in a pool worker, on a Dask worker, or in the caller (``parallel=False``).

    Every exception becomes a ScenarioFailure so that one bad scenario never costs the batch the others.
    """
    from pytest_stress.run.scenario import run_scenario, warm_up

    warm_up()  # numba's cache load is a per-process cost, not this scenario's
    started = time.perf_counter()
    try:
        result = run_scenario(job.scenario, symbols=job.symbols, seed=job.seed)
    except Exception as exc:
        return _Done(job.index, _failure(job.scenario.name, exc), time.perf_counter() - started)
    # The plugin's hook is a closure over the pytest session: it must not travel between processes.
    changes: dict[str, Any] = {"certify_hook": None}
    if not job.keep_curves:
        # One point (the final value) keeps final_equity and to_dict() working; n_ticks keeps the length.
        changes["equity_curve"] = result.equity_curve[-1:].copy()
        if hasattr(result, "drawdown_curve"):
            changes["drawdown_curve"] = result.drawdown_curve[-1:].copy()
        if getattr(result, "price_index", None) is not None:
            changes["price_index"] = result.price_index[-1:].copy()
    return _Done(job.index, dataclasses.replace(result, **changes), time.perf_counter() - started)


def _failure(name: str, exc: BaseException) -> ScenarioFailure:
    return ScenarioFailure(name, type(exc).__name__, str(exc) or repr(exc))


# --- the runner -----------------------------------------------------------------------------------


class StressTestRunner:
    """Runs batches of scenarios and summarises them (seed 003's StressTestRunner).

    ``max_workers``: processes of the local pool (default: the CPU count, at most one per scenario).
    ``address``: a dask.distributed scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``;
    when given, batches run on that cluster and ``max_workers`` is the cluster's business. A client passed
    in stays open; one the runner opened from an address is closed after each batch.
    ``progress``: True prints one line per finished scenario on stderr, False is silent, a callable receives
    a ``BatchProgress`` for each.
    ``start_method``: 'forkserver' (default where the platform has it) or 'spawn'. 'fork' is refused: a
    forked copy of a process whose numba or BLAS threads hold a lock can deadlock.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        address: Any = None,
        progress: bool | Callable[[BatchProgress], None] = True,
        *,
        start_method: str | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        methods = multiprocessing.get_all_start_methods()
        if start_method is None:
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        if start_method not in ("forkserver", "spawn") or start_method not in methods:
            raise ValueError(
                f"start_method must be 'forkserver' or 'spawn' (available here: {', '.join(methods)}), "
                f"got {start_method!r}"
            )
        if address is not None:
            _import_distributed()  # fail now, not after the scenario files were read
        self.max_workers = max_workers
        self.address = address
        self.start_method = start_method
        self.connect_timeout_s = connect_timeout_s
        if progress is True:
            self._progress: Callable[[BatchProgress], None] | None = print_progress
        elif progress is False or progress is None:
            self._progress = None
        else:
            self._progress = progress

    def run_batch(
        self,
        scenarios: Iterable[Scenario | str | Path] | Scenario | str | Path,
        parallel: bool = True,
        max_workers: int | None = None,
        symbols: int | None = None,
        seed: int | None = None,
        *,
        keep_curves: bool = True,
        scenario_dirs: Iterable[str | Path] = (),
    ) -> dict[str, Outcome]:
        """Replay every scenario; return ``{key: ScenarioResult or ScenarioFailure}`` in the order given.

        ``scenarios``: Scenario objects, library names (also searched in ``scenario_dirs``) or YAML paths.
        The key is the scenario's name; a name met again gets ``#2``, ``#3``... (a file that does not load
        is keyed by the text given). ``symbols``/``seed`` override every scenario's market. Results do not
        depend on the worker count or on where they ran: the same seed gives bit-identical curves.
        ``keep_curves=False`` shrinks each equity, drawdown and price curve to its final value (``n_ticks`` still
        gives the length), for sweeps too big to hold every curve.
        """
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        if isinstance(scenarios, (str, Path, Scenario)):
            scenarios = [scenarios]
        items = list(scenarios)
        jobs, done = _prepare(items, symbols, seed, keep_curves, tuple(scenario_dirs))
        keys = _keys(items, jobs, done)
        total = len(items)
        outcomes: dict[int, Outcome] = {}

        def finish(d: _Done) -> None:
            outcomes[d.index] = d.outcome
            if self._progress is not None:
                self._progress(BatchProgress(len(outcomes), total, keys[d.index], d.outcome, d.seconds))

        for d in done:  # files that did not load count as finished first
            finish(d)
        if self.address is not None:
            self._run_on_dask(jobs, finish)
        elif not parallel or len(jobs) <= 1:
            # One scenario gains nothing from a pool but would pay for starting it.
            for job in jobs:
                finish(_run_job(job))
        else:
            workers = min(max_workers or self.max_workers or os.cpu_count() or 1, len(jobs))
            self._run_on_pool(jobs, workers, finish)
        return {keys[i]: outcomes[i] for i in range(total)}

    def _run_on_pool(self, jobs: list[_Job], workers: int, finish: Callable[[_Done], None]) -> None:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            _preload_replay_core(ctx)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        try:
            pending = {pool.submit(_run_job, job): job for job in jobs}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job = pending.pop(fut)
                    try:
                        done = fut.result()
                    except Exception as exc:  # a worker died (BrokenProcessPool) or a result did not pickle
                        done = _Done(job.index, _failure(job.scenario.name, exc), 0.0)
                    finish(done)
        finally:
            # On Ctrl-C, drop what has not started instead of replaying it on the way out.
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_on_dask(self, jobs: list[_Job], finish: Callable[[_Done], None]) -> None:
        distributed = _import_distributed()
        if isinstance(self.address, distributed.Client):
            client, owned = self.address, False
        else:
            try:
                client = distributed.Client(
                    self.address, timeout=self.connect_timeout_s, set_as_default=False
                )
            except (OSError, TimeoutError) as exc:
                raise ClusterUnavailable(
                    f"cannot reach the Dask scheduler at {self.address!r} within "
                    f"{self.connect_timeout_s:g} s ({exc}); check the address and that the scheduler runs"
                ) from None
            owned = True
        try:
            if not jobs:
                return
            # pure=False: two identical jobs (a duplicate scenario) are two tasks, not one cached result.
            futures = client.map(_run_job, jobs, pure=False)
            by_key = {f.key: job for f, job in zip(futures, jobs, strict=True)}
            for fut in distributed.as_completed(futures, loop=client.loop):
                job = by_key[fut.key]
                try:
                    done = fut.result()
                except Exception as exc:  # the task was lost (KilledWorker) or did not deserialise
                    done = _Done(job.index, _failure(job.scenario.name, exc), 0.0)
                fut.release()  # the cluster need not keep a result we already hold
                finish(done)
        finally:
            if owned:
                client.close()

    # Seed 003 calls these on the runner.
    @staticmethod
    def generate_summary(results: Mapping[str, Outcome]) -> dict[str, Any]:
        return generate_summary(results)

    @staticmethod
    def print_summary(results: Mapping[str, Outcome], file: IO[str] | None = None) -> None:
        print_summary(results, file=file)


def _preload_replay_core(ctx: Any) -> None:
    """Have the forkserver import the replay core once, so each pool worker starts with numba imported.

    This cuts a worker's start from about 0.4 s to a fork, on every batch after the first. The forkserver
    is one per process and single-threaded, so forking from it stays safe. The preload list is global to
    the process: the modules are added to it, never put in place of what another caller asked for. It
    takes effect only if the forkserver has not started yet.
    """
    from multiprocessing import forkserver

    # No public getter for the list; the stdlib default is ["__main__"].
    current = list(
        getattr(getattr(forkserver, "_forkserver", None), "_preload_modules", None) or ["__main__"]
    )
    missing = [m for m in _PRELOAD if m not in current]
    if missing:
        ctx.set_forkserver_preload([*current, *missing])


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DaskNotInstalled(
            f"running a batch on a Dask cluster needs dask.distributed, which is not installed ({exc}); "
            f"install it with `{DASK_HINT}`"
        ) from None
    return distributed


def _prepare(
    items: list[Any], symbols: int | None, seed: int | None, keep_curves: bool, dirs: tuple[Path | str, ...]
) -> tuple[list[_Job], list[_Done]]:
    """Load every scenario here; those that do not load are finished already, as failures."""
    jobs: list[_Job] = []
    done: list[_Done] = []
    for i, item in enumerate(items):
        if isinstance(item, Scenario):
            jobs.append(_Job(i, item, symbols, seed, keep_curves))
            continue
        if not isinstance(item, (str, Path)):
            raise TypeError(
                f"scenario {i} of the batch is a {type(item).__name__}; give a Scenario, a name or a path"
            )
        started = time.perf_counter()
        try:
            sc = load_scenario(item, extra_dirs=dirs)
        except Exception as exc:
            done.append(_Done(i, _failure(str(item), exc), time.perf_counter() - started))
        else:
            jobs.append(_Job(i, sc, symbols, seed, keep_curves))
    return jobs, done


def _keys(items: list[Any], jobs: list[_Job], done: list[_Done]) -> list[str]:
    names = [""] * len(items)
    for j in jobs:
        names[j.index] = j.scenario.name
    for d in done:
        names[d.index] = d.outcome.name  # type: ignore[union-attr]  # a failure: the text given
    seen: Counter[str] = Counter()
    keys = []
    taken = set(names)
    for name in names:
        seen[name] += 1
        key = name
        if seen[name] > 1:
            n = seen[name]
            while f"{name}#{n}" in taken:  # a file keyed "x#2" already in the batch
                n += 1
            key = f"{name}#{n}"
            taken.add(key)
        keys.append(key)
    return keys


__all__ = [
    "BatchProgress",
    "ClusterUnavailable",
    "DaskNotInstalled",
    "ScenarioFailure",
    "StressTestRunner",
    "generate_summary",
    "print_progress",
    "print_summary",
    "verdict",
]
