"""The scenario library: the bundled scenarios and the ``--stress-scenarios`` directories, looked up by name,
type or tag, and seed 003's ``ScenarioLibrary`` face over them.

The scenario document itself (its value types and schema) is ``pytest_stress.specs.scenario``; its names
are re-exported here, so ``from pytest_stress.scenario import Scenario, load_scenario`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_stress.errors import Problem, ScenarioError, ScenarioNotFound
from pytest_stress.specs.execution import ExecutionSpec
from pytest_stress.specs.market import MAX_CELLS, MAX_SYMBOLS, MarketSpec
from pytest_stress.specs.risk import RiskSpec
from pytest_stress.specs.scenario import (
    PROVENANCE_KINDS,
    Expectation,
    OnBreach,
    PortfolioSpec,
    Provenance,
    Scenario,
    ScenarioType,
    load_scenario_file,
    parse_scenario,
)
from pytest_stress.specs.stresses import STRESS_PARAMS, StressSpec

# --- the library ----------------------------------------------------------------------------------


def bundled_dir() -> Path:
    """The scenarios shipped with the package (inside the wheel, or the repository's scenarios/)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_scenarios"
    return packaged if packaged.is_dir() else here.parent / "scenarios"


def _library_files(extra_dirs: Iterable[str | Path]) -> dict[str, Path]:
    """Scenario name -> file.

    A name defined twice is an error naming both files - two files in one directory (``x.yaml`` and
    ``x.yml``), or two of the ``--stress-scenarios`` directories - except that a user directory may
    shadow a bundled scenario on purpose (the documented way to adapt one to your book).
    """
    files: dict[str, Path] = {}
    bundled = bundled_dir()
    for d in (bundled, *map(Path, extra_dirs)):
        if not d.is_dir():
            raise ScenarioNotFound(f"{d}: scenario directory does not exist")
        for f in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            first = files.get(f.stem)
            if first is not None and first.resolve() == f.resolve():
                continue  # the same directory given twice
            if first is not None and not (first.parent == bundled and d != bundled):
                raise ScenarioError(
                    [
                        Problem(
                            str(f),
                            1,
                            "name",
                            f"duplicate scenario name '{f.stem}': also defined by {first}; "
                            "rename or remove one of the two files",
                        )
                    ]
                )
            files[f.stem] = f
    return files


def library_names(extra_dirs: Iterable[str | Path] = ()) -> list[str]:
    """Names of the library scenarios, from file names alone (a broken file fails only its own test)."""
    return sorted(_library_files(extra_dirs))


def scenario_library(extra_dirs: Iterable[str | Path] = ()) -> list[Scenario]:
    """Every bundled scenario plus those in ``extra_dirs`` (``--stress-scenarios``), sorted by name.

    A library file's ``name:`` must equal its file name, so ``load_scenario(name)`` finds it.
    """
    out = []
    for stem, f in sorted(_library_files(extra_dirs).items()):
        sc = load_scenario_file(f)
        if sc.name != stem:
            raise ScenarioError(
                [
                    Problem(
                        str(f),
                        1,
                        "name",
                        f"name '{sc.name}' differs from the file name '{stem}'; "
                        "library scenarios are looked up by file name",
                    )
                ]
            )
        out.append(sc)
    return out


def load_scenario(name_or_path: str | Path, extra_dirs: Iterable[str | Path] = ()) -> Scenario:
    """A scenario by library name (``"flash_crash_lite"``) or by path to a YAML file."""
    text = str(name_or_path)
    as_path = Path(text)
    if as_path.suffix in (".yaml", ".yml") or as_path.is_file() or "/" in text:
        return load_scenario_file(as_path)
    files = _library_files(extra_dirs)
    if text not in files:
        from difflib import get_close_matches

        near = get_close_matches(text, list(files), n=3)
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        raise ScenarioNotFound(
            f"no scenario named '{text}' in the library ({len(files)} "
            f"scenario{'s' if len(files) != 1 else ''}; "
            f"`python -m pytest_stress scenarios list` shows them).{hint}"
        )
    return load_scenario_file(files[text])


def get_by_type(kind: ScenarioType | str, extra_dirs: Iterable[str | Path] = ()) -> list[Scenario]:
    """Library scenarios of one type (seed 003: ``ScenarioLibrary.get_by_type(ScenarioType.FLASH_CRASH)``)."""
    wanted = ScenarioType(kind)
    return [sc for sc in scenario_library(extra_dirs) if sc.type is wanted]


def get_by_tags(*tags: str, extra_dirs: Iterable[str | Path] = (), match: str = "all") -> list[Scenario]:
    """Library scenarios carrying every tag given (``match="any"``: at least one of them)."""
    if match not in ("all", "any"):
        raise ValueError(f"match must be 'all' or 'any', got {match!r}")
    test = all if match == "all" else any
    return [sc for sc in scenario_library(extra_dirs) if test(t in sc.tags for t in tags)]


class _LibraryMeta(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in library_names():
            raise AttributeError(f"ScenarioLibrary has no scenario named {name!r}")
        return lambda: load_scenario(name)


class ScenarioLibrary(metaclass=_LibraryMeta):
    """Seed 003's face over the bundled library: ``ScenarioLibrary.btc_flash_crash_2021()``,
    ``ScenarioLibrary.get_all()``, ``ScenarioLibrary.get_by_type(ScenarioType.FLASH_CRASH)``."""

    @staticmethod
    def get_all(extra_dirs: Iterable[str | Path] = ()) -> list[Scenario]:
        return scenario_library(extra_dirs)

    @staticmethod
    def get_by_type(kind: ScenarioType | str, extra_dirs: Iterable[str | Path] = ()) -> list[Scenario]:
        return get_by_type(kind, extra_dirs)

    @staticmethod
    def get_by_tags(*tags: str, extra_dirs: Iterable[str | Path] = (), match: str = "all") -> list[Scenario]:
        return get_by_tags(*tags, extra_dirs=extra_dirs, match=match)


__all__ = [
    "MAX_CELLS",
    "MAX_SYMBOLS",
    "PROVENANCE_KINDS",
    "STRESS_PARAMS",
    "ExecutionSpec",
    "Expectation",
    "MarketSpec",
    "OnBreach",
    "PortfolioSpec",
    "Provenance",
    "RiskSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioLibrary",
    "ScenarioType",
    "StressSpec",
    "bundled_dir",
    "get_by_tags",
    "get_by_type",
    "library_names",
    "load_scenario",
    "load_scenario_file",
    "parse_scenario",
    "scenario_library",
]
