"""A small neural-network core with hand-written backprop, Keras-compatible.

Layers (``forward`` caches, ``backward`` fills ``grads`` and returns dx),
losses returning ``(value, gradient)``, optimizers with Keras 3's exact update
rules (thin objects over :mod:`mfcore.engines.optim_numpy` and its Numba twin),
Keras' initializers and a finite-difference gradient checker. The compiled hot
loops (gathers, scatters, the fused BatchNorm block) live in
:mod:`mfcore.engines.nn_jit`, beside their NumPy twins.

Modules: :mod:`~mfcore.nn.layers`, :mod:`~mfcore.nn.activations`,
:mod:`~mfcore.nn.normalization`, :mod:`~mfcore.nn.losses`,
:mod:`~mfcore.nn.optim`, :mod:`~mfcore.nn.init`, :mod:`~mfcore.nn.gradcheck`,
:mod:`~mfcore.nn.fused`, :mod:`~mfcore.nn.lbfgs` (full-batch L-BFGS, AutoRec's
optimizer). The networks built from these layers live beside their models: the
MF graph ``MFNet`` in :mod:`mfcore.models.keras_mf`.
"""
from . import init
from .activations import ELU, ReLU, Sigmoid, Tanh
from .gradcheck import GradCheckResult, check_gradients, check_layer, numerical_gradient
from .layers import Add, Concatenate, Dense, Dot, Dropout, Embedding, Layer, RowGrad, collect
from .losses import l2_penalty, masked_mse, masked_sse, mse
from .normalization import BatchNormalization
from .optim import SGD, Adam, Adamax, Optimizer, RMSprop

__all__ = [
    "init", "Layer", "RowGrad", "Embedding", "Dense", "Dot", "Add", "Concatenate", "Dropout",
    "ELU", "ReLU", "Sigmoid", "Tanh", "BatchNormalization", "collect", "mse", "masked_mse", "masked_sse",
    "l2_penalty", "Optimizer", "SGD", "Adam", "Adamax", "RMSprop", "GradCheckResult",
    "check_gradients", "check_layer", "numerical_gradient",
]


def __getattr__(name):
    if name == "MFNet":  # it was here before it became a Net of mfcore.models
        raise AttributeError("MFNet moved: from mfcore.models.keras_mf import MFNet (a Net: its params "
                             "are keyed 'user_embedding/embeddings', ...)")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
