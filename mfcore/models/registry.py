"""Model names (as the CLI and the tour spell them) -> model classes.

A model module registers its class with the :func:`register` decorator; this
module imports the model modules lazily so ``import mfcore`` stays cheap.
"""
import importlib

_REGISTRY = {}

# name -> module that defines it; later issues add their rows here.
_MODULES = {
    "mean": "mfcore.models.baseline",
    "biases": "mfcore.models.baseline",
    "popularity": "mfcore.models.baseline",
    "svd": "mfcore.models.svd",
    "user-knn": "mfcore.models.knn",
    "item-knn": "mfcore.models.knn_baseline",
    "user-knn-baseline": "mfcore.models.knn_baseline",
    "mf": "mfcore.models.mf",
    "biased-mf": "mfcore.models.mf",
    "svdpp": "mfcore.models.svdpp",
    "als": "mfcore.models.als",
    "implicit-als": "mfcore.models.implicit_als",
    "bpr": "mfcore.models.bpr",
    "biased-mf-keras": "mfcore.models.keras_mf",
    "dot-mf": "mfcore.models.keras_mf",
    "i-autorec": "mfcore.models.autorec",
    "u-autorec": "mfcore.models.autorec",
    "deep-autorec": "mfcore.models.deep_autorec",
    "rbm": "mfcore.models.rbm",
    "bernoulli-rbm": "mfcore.models.rbm",
    "residual-mf": "mfcore.models.residual",
    "deep": "mfcore.models.deep",
    "resnet-mf": "mfcore.models.deep",
    "rncf": "mfcore.models.rncf",
    "blend": "mfcore.models.blend",
}


def register(cls):
    """Class decorator: make ``cls`` available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def _load_all():
    for module in sorted(set(_MODULES.values())):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def model_names():
    """The names of every available model, in the order of the table above."""
    _load_all()
    return [n for n in _MODULES if n in _REGISTRY] + sorted(set(_REGISTRY) - set(_MODULES))


def get_model_class(name):
    """The class registered as ``name``; KeyError listing the valid names otherwise."""
    if name not in _REGISTRY and name in _MODULES:
        importlib.import_module(_MODULES[name])
    if name not in _REGISTRY:
        _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}")
    return _REGISTRY[name]


def make_model(name, **params):
    """An instance of model ``name`` with ``params``."""
    return get_model_class(name)(**params)
