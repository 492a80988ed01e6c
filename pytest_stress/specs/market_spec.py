"""``MarketSpec``, the market a scenario replays, and the sources it may come from.

Both parsers of the ``market:`` section build it: ``specs.market`` for the generated markets (``synthetic``,
``reconstruction``) and ``specs.historic`` for the data-backed ones (``historic``, ``dataset``). It lives
apart from both so that ``specs.market`` can hand a data market to ``specs.historic`` without either
importing the other back. ``specs.market`` re-exports it: import it from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_stress.specs.reconstruction import ReconstructionSpec

# Where the ticks come from: the seeded generator; the generator pinned to an event's published facts
# (``reconstruction:``); the user's own file (``historic``); a dataset shipped by a package (``dataset``).
GENERATED_SOURCES = ("synthetic", "reconstruction")
DATA_SOURCES = ("historic", "dataset")
SOURCES = (*GENERATED_SOURCES, *DATA_SOURCES)


@dataclass(frozen=True)
class MarketSpec:
    """The market to replay.

    Volatility and drift are annualised fractions over the asset class's trading time; spreads are full
    spreads in bps at the long-run volatility (they widen and narrow with the GARCH volatility); GARCH
    ``alpha``/``beta``/``omega`` act per tick on the variance in units of the long-run per-tick variance
    (``omega`` None: ``1 - alpha - beta``, which keeps the unconditional volatility at ``annual_vol``;
    ``alpha = beta = 0`` is plain GBM). ``daily_volume`` is units traded per trading day; ``tick_size`` is
    in price units (None: by asset class, from the start price); ``funding_interval_s`` only matters for
    ``crypto_perp``.
    """

    source: str
    symbols: int
    duration_s: float
    tick_ms: int
    seed: int
    annual_vol: tuple[float, float] = (0.15, 0.45)
    correlation: float = 0.5  # one factor: every pair of symbols; replaced by correlation_matrix when given
    spread_bps: tuple[float, float] = (1.0, 5.0)
    start_price: tuple[float, float] = (20.0, 500.0)
    annual_drift: float = 0.0
    correlation_matrix: tuple[tuple[float, ...], ...] | None = None
    garch_alpha: float = 0.05
    garch_beta: float = 0.90
    garch_omega: float | None = None
    tails: str = "normal"
    dof: float = 5.0
    daily_volume: tuple[float, float] = (1e5, 1e7)
    depth_levels: int = 0
    tick_size: float | None = None
    round_to_tick: bool = False
    asset_class: str = "equity"
    funding_interval_s: float = 28_800.0
    reconstruction: ReconstructionSpec | None = None
    historic: object | None = None  # pytest_stress.specs.historic.HistoricSpec (source historic or dataset)

    @property
    def fixed_symbols(self) -> bool:
        """True when the market's symbols are given by its data, so ``--symbols`` cannot change them."""
        return self.source != "synthetic"

    @property
    def n_ticks(self) -> int:
        return round(self.duration_s * 1000.0 / self.tick_ms) + 1

    def tick_of(self, seconds: float) -> int:
        """Index of the tick at ``seconds`` after the start (tick 0 is at 0 s)."""
        return round(seconds * 1000.0 / self.tick_ms)

    @property
    def omega(self) -> float:
        """The GARCH constant actually used (``garch_omega``, or ``1 - alpha - beta`` when not given)."""
        if self.garch_omega is not None:
            return self.garch_omega
        return 1.0 - self.garch_alpha - self.garch_beta
