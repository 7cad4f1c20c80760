"""Ratings, loaders, filters, splits and synthetic data."""
from .ratings import IdMap, Ratings, RatingScale

__all__ = ["IdMap", "Ratings", "RatingScale"]
