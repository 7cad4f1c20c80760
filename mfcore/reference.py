"""Keras reference results, for the tour and the tutorials.

The numbers come from ``benchmarks/keras_reference.py`` (TensorFlow, run by
hand; its full output with per-epoch curves is committed in
``benchmarks/results/keras_reference.json``). This module carries the final
test RMSE (clipped to the rating scale) of each model that has a Keras
counterpart, keyed by dataset, split and seed, so that the package can show
them without TensorFlow or the benchmarks folder.
"""

# (dataset, split, seed) -> {mfcore model name: final test RMSE of the Keras model}
KERAS_FINAL_RMSE = {
    # ML-100k, rows of u.data permuted by numpy.random.default_rng(42), first 80% train.
    # Values from ../shared/reference/SEED_RESULTS.md until the project's own
    # reference run replaces them.
    ("ml-100k", "random:0.2", 42): {
        "mean": 1.1331,
        "biased-mf-keras": 0.9322,
        "residual-mf": 0.9341,
        "deep": 0.9590,
        "dot-mf": 0.9614,
        "rncf": 1.0121,
        "deep-autorec": 0.9909,
    },
}


def keras_reference(dataset, split, seed, model):
    """Final Keras test RMSE for ``model`` on this data and split, or None."""
    return KERAS_FINAL_RMSE.get((dataset, split, seed), {}).get(model)
