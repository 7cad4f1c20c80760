"""User-facing models. Each registers itself under its CLI name (see registry)."""
from .base import Recommender
from .baseline import Biases, GlobalMean, Popularity
from .registry import get_model_class, make_model, model_names

__all__ = ["Recommender", "GlobalMean", "Biases", "Popularity", "get_model_class", "make_model", "model_names"]
