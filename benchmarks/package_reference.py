"""Copy the Keras reference curves into the package (mfcore/data/keras_reference.json).

``benchmarks/keras_reference.py`` (TensorFlow, run by hand) writes the full
record to ``benchmarks/results/keras_reference.json``. The package cannot see
the benchmarks folder once installed, so this script keeps the part that the
tour and the tutorials show: per model and split, the per-epoch test RMSE
(clipped and not), the training loss, best and final, and seconds per epoch,
under mfcore's model names. Run it after every reference run.
"""
import json
import os
import sys
from pathlib import Path

from _common import flags

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "results" / "keras_reference.json"
TARGET = HERE.parent / "mfcore" / "data" / "keras_reference.json"

# Keras script key -> (mfcore model name, variant)
NAMES = {
    "global_mean": ("mean", "default"),
    "biased_mf": ("biased-mf-keras", "default"),
    "residual_mf_k15_d512": ("residual-mf", "default"),
    "residual_mf_k10_d400": ("residual-mf", "k10-400"),
    "deep": ("deep", "default"),
    "dot_mf": ("dot-mf", "default"),
    "dot_mf_es": ("dot-mf", "early-stopping-100"),
    "rncf_fixed": ("rncf", "default"),
    "rncf_bug": ("rncf", "notebook-error-target"),
    "deep_autorec": ("deep-autorec", "default"),
    "deep_autorec_300": ("deep-autorec", "300-epochs"),
    "i_autorec": ("i-autorec", "keras-adam"),  # Keras: Adam; mfcore default: L-BFGS, so not in the tour
}
# Keras script split -> (dataset, mfcore split spec, seed)
SPLITS = {"80/20": ("ml-100k", "random:0.2", 42), "u1": ("ml-100k", "u1", None),
          # keras_reference.py --dataset ml-latest-small: mfcore's random_split(0.2, rng=42)
          "ml-latest-small 80/20": ("ml-latest-small", "random:0.2", 42)}


def _round(values):
    return [None if v is None else round(float(v), 6) for v in values]


def main():
    src = json.loads(SOURCE.read_text())
    out = {"description": "Keras reference curves (copied from benchmarks/results/"
                          "keras_reference.json by benchmarks/package_reference.py)",
           "environment": src["environment"], "entries": []}
    for key, per_split in src["results"].items():
        if key not in NAMES:
            continue
        model, variant = NAMES[key]
        for split_key, rec in per_split.items():
            dataset, split, seed = SPLITS[split_key]
            ep = rec.get("epochs") or {}
            out["entries"].append({
                "model": model, "variant": variant, "keras_key": key, "dataset": dataset,
                "split": split, "seed": seed, "settings": rec.get("settings", {}),
                "best": rec["best"], "final": rec["final"],
                "seconds_per_epoch": rec.get("median_seconds_per_epoch"),
                "val_rmse_clipped": _round(ep.get("val_rmse_clipped", [])),
                "val_rmse": _round(ep.get("val_rmse", [])),
                "train_loss": _round(ep.get("train_loss", [])),
            })
    tmp = TARGET.with_suffix(".json.part")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, TARGET)
    print(f"wrote {len(out['entries'])} entries to {TARGET}")
    return 0


if __name__ == "__main__":
    flags(__doc__)
    sys.exit(main())
