"""Settings every layer reads: the profile, the time scale runbook durations are divided by, the seed
override and the scenario directories, read once from pytest's options and ini (or given directly).

Duck-typed over pytest's ``Config`` (``getoption``, ``getini``, ``invocation_params``), so it imports
nothing heavy and nothing of pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_stress.errors import StressError

PROFILES = ("ci", "nightly")
DEFAULT_PROFILE = "ci"
# runbook seconds per test second: a 10 s outage takes 1 s in ci, 10 s nightly
DEFAULT_TIME_SCALE = {"ci": 10.0, "nightly": 1.0}


@dataclass(frozen=True)
class StressOptions:
    profile: str = DEFAULT_PROFILE
    time_scale: float = DEFAULT_TIME_SCALE[DEFAULT_PROFILE]
    seed_override: int | None = None
    scenario_dirs: tuple[Path, ...] = ()
    toxiproxy_url: str | None = None
    waivers_file: Path | None = None  # a risk officer's waivers (specs.waivers), None: no waivers

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise StressError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        if not self.time_scale > 0:
            raise StressError(f"--stress-time-scale must be positive, got {self.time_scale:g}")

    def scaled(self, runbook_seconds: float) -> float:
        """Test seconds for a runbook duration (a 10 s outage is 1 s at time scale 10)."""
        return runbook_seconds / self.time_scale

    def to_dict(self) -> dict[str, Any]:
        """What the report records of the session's settings."""
        return {
            "profile": self.profile,
            "time_scale": self.time_scale,
            "seed_override": self.seed_override,
            "scenario_dirs": [str(d) for d in self.scenario_dirs],
            "toxiproxy_url": self.toxiproxy_url,
            "waivers_file": str(self.waivers_file) if self.waivers_file else None,
        }


def from_config(config: Any) -> StressOptions:
    """The options of a pytest session: ``--stress-*`` flags, then ini settings, then the defaults."""
    profile = config.getoption("stress_profile") or DEFAULT_PROFILE
    scale = config.getoption("stress_time_scale")
    return StressOptions(
        profile=profile,
        time_scale=float(scale if scale is not None else DEFAULT_TIME_SCALE.get(profile, 1.0)),
        seed_override=config.getoption("stress_seed"),
        scenario_dirs=tuple(scenario_dirs(config)),
        toxiproxy_url=config.getoption("toxiproxy_url"),
        waivers_file=waivers_file(config),
    )


def time_scale(config: Any) -> float:
    """Runbook durations are divided by this: --stress-time-scale, else 10 in the ci profile, 1 nightly."""
    return from_config(config).time_scale


def scenario_dirs(config: Any) -> list[Path]:
    """The ``stress_scenarios`` ini directories, then ``--stress-scenarios`` (relative to where pytest ran)."""
    base = Path(config.invocation_params.dir)
    cli = [base / d for d in config.getoption("stress_scenarios") or []]
    return [*config.getini("stress_scenarios"), *cli]


def waivers_file(config: Any) -> Path | None:
    """``--stress-waivers FILE`` (relative to where pytest ran), else the ``stress_waivers`` ini path."""
    given = config.getoption("stress_waivers")
    if given:
        return Path(config.invocation_params.dir) / given
    ini = config.getini("stress_waivers")  # a list of paths, relative to the ini file
    if len(ini) > 1:
        raise StressError(f"stress_waivers names {len(ini)} files; give one waivers file")
    return Path(ini[0]) if ini else None
