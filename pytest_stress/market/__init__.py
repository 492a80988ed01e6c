"""Market data for the replay: the struct-of-arrays frame and the seeded synthetic generator."""

from pytest_stress.market.frame import MarketFrame

__all__ = ["MarketFrame"]
