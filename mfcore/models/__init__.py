"""User-facing models. Each registers itself under its CLI name (see registry)."""
from .base import Recommender
from .baseline import Biases, GlobalMean
from .registry import get_model_class, make_model, model_names

__all__ = ["Recommender", "GlobalMean", "Biases", "get_model_class", "make_model", "model_names"]
