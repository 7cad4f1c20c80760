"""mfcore: matrix factorization and neural recommenders from NumPy and Numba.

Notation (used in docstrings, engines and tutorials alike)

=========  ==========================================================
symbol     meaning
=========  ==========================================================
r_ui       rating of user u for item i
r_hat_ui   predicted rating
mu         global mean of the training ratings
b_u, b_i   user bias, item bias (``user_bias_``, ``item_bias_``)
p_u, q_i   user and item factor vectors, rows of P (n_users, K) and Q
           (n_items, K) (``user_factors_``, ``item_factors_``)
K          number of latent factors (``n_factors``)
e          prediction error r_ui - r_hat_ui
lr         learning rate (eta)
reg        L2 regularization strength (lambda)
=========  ==========================================================
"""
__version__ = "0.1.0"

from .data import IdMap, Ratings, RatingScale
from .exceptions import (ChecksumError, DataError, DivergenceError, ModelFileError,
                         NotFittedError)
from .models import Biases, GlobalMean, Recommender, get_model_class, make_model, model_names
from .models.keras_mf import BiasedMFKeras, DotMF
from .models.knn import UserKNN
from .models.mf import BiasedMF, FunkMF
from .models.svd import TruncatedSVD
from .training import EarlyStopping, History, PrintProgress


def load_model(path):
    """Load any model saved with ``model.save(path)`` (no pickle involved)."""
    return Recommender.load(path)


__all__ = [
    "__version__", "IdMap", "Ratings", "RatingScale", "ChecksumError", "DataError",
    "DivergenceError", "ModelFileError", "NotFittedError", "Recommender", "GlobalMean",
    "Biases", "TruncatedSVD", "UserKNN", "FunkMF", "BiasedMF", "BiasedMFKeras", "DotMF",
    "get_model_class", "make_model", "model_names", "EarlyStopping", "History",
    "PrintProgress", "load_model",
]
