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
from .exceptions import (ChecksumError, DataError, DivergenceError, DivergenceWarning,
                         ModelFileError, NotFittedError, TrainingWarning)
from .models import Biases, GlobalMean, Popularity, Recommender, get_model_class, make_model, model_names
from .models.als import ALS
from .models.autorec import IAutoRec, UAutoRec
from .models.blend import Blend
from .models.bpr import BPR
from .models.deep import DeepMF, ResNetMF
from .models.deep_autorec import DeepAutoRec
from .models.implicit_als import ImplicitALS
from .models.keras_mf import BiasedMFKeras, DotMF
from .models.knn import UserKNN
from .models.knn_baseline import ItemKNN, UserKNNBaseline
from .models.mf import BiasedMF, FunkMF
from .models.rbm import BernoulliRBM, SoftmaxRBM
from .models.residual import ResidualMF
from .models.rncf import RNCF
from .models.svd import TruncatedSVD
from .models.svdpp import SVDpp
from .training import DivergenceGuard, EarlyStopping, History, PrintProgress


def load_model(path):
    """Load any model saved with ``model.save(path)`` (no pickle involved)."""
    return Recommender.load(path)


__all__ = [
    "__version__", "IdMap", "Ratings", "RatingScale", "ChecksumError", "DataError",
    "DivergenceError", "DivergenceWarning", "TrainingWarning", "ModelFileError", "NotFittedError",
    "Recommender", "GlobalMean", "Biases", "Popularity", "TruncatedSVD", "UserKNN", "ItemKNN", "UserKNNBaseline", "FunkMF", "BiasedMF", "SVDpp",
    "BiasedMFKeras", "DotMF", "IAutoRec", "UAutoRec", "DeepAutoRec", "SoftmaxRBM", "BernoulliRBM",
    "ResidualMF", "DeepMF", "ResNetMF", "RNCF", "Blend", "get_model_class", "make_model", "model_names",
    "ALS", "ImplicitALS",
    "BPR",
    "DivergenceGuard", "EarlyStopping", "History", "PrintProgress", "load_model",
]
