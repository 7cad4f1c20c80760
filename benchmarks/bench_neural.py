"""The neural models of issue 4 on ML-100k 80/20: accuracy against Keras, tuned residual MF
against tuned biased MF, and seconds per epoch against TensorFlow/Keras in one run.

Parts (``--parts``, default all):

* ``accuracy``: residual MF (K15-512, K10-400), deep (Netflix notebook), its plain
  variant, the ResNet-style model and RNCF (error target corrected / the notebook's
  bug), each with its notebook's settings, rng 42, float64; per-epoch clipped test
  RMSE next to the Keras curves of ``results/keras_reference.json``.
* ``tuned``: residual MF tuned WITHOUT the test set (90/10 holdout of the training
  rows, rng 0: a small grid over the optimizer, lr and the Keras L2 ``reg``, epochs
  chosen by early stopping on the holdout), then refitted on all training rows for the chosen
  number of epochs; against ``biased-mf`` with its defaults (K=100, lr 0.01,
  reg 0.05, init_std 0.01, 35 epochs) on the same split.
* ``speed``: seconds per epoch for the residual model (batch 128) and the deep
  model (batch 1024): mfcore (float64 and float32; forward/backward/update split)
  and Keras (float32, 2 intra-op threads) run alternately in the same session,
  Keras in a subprocess of ``/work/tfvenv/bin/python`` (``--keras-python``) that
  builds the models with ``keras_reference.py``'s own definitions.

mfcore runs with ``OPENBLAS_NUM_THREADS=1`` unless set (small products; on a shared
2-core machine extra BLAS threads only contend).

    MFCORE_DATA_DIR=/work/shared/data python benchmarks/bench_neural.py [--parts speed]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("MFCORE_DATA_DIR", HERE.parents[1] / "shared" / "data"))
ACCURACY = [  # (label, mfcore model, params, keras_reference key)
    ("residual K15-512", "residual-mf", {}, "residual_mf_k15_d512"),
    ("residual K10-400", "residual-mf", {"n_factors": 10, "hidden": 400}, "residual_mf_k10_d400"),
    ("deep (Netflix)", "deep", {}, "deep"),
    ("deep plain (512)", "deep", {"plain": True, "units": 512}, None),
    ("resnet-mf (toy nb)", "resnet-mf", {}, None),
    ("RNCF corrected", "rncf", {}, "rncf_fixed"),
    ("RNCF notebook bug", "rncf", {"error_target": "notebook"}, "rncf_bug"),
]
TUNE_GRID = [{"lr": 0.02, "reg": 5e-5}, {"lr": 0.08, "reg": 5e-5},
             {"optimizer": "adam", "lr": 0.001, "reg": 1e-4}]  # probes on the holdout led here
SPEED = [("residual K15-512", "residual-mf", {}, "residual_mf_k15_d512", 128),
         ("deep (Netflix)", "deep", {}, "deep", 1024)]


# --------------------------------------------------------------- Keras worker
def keras_worker(model_key, epochs):
    """Run inside the TensorFlow venv: time ``epochs`` epochs of a reference model, print JSON."""
    sys.path.insert(0, str(HERE))
    import keras_reference as kr

    kr._layers()
    kr._reseed()
    data = kr.load_split(str(DATA), "80/20")
    if model_key == "residual_mf_k15_d512":
        model, batch = kr.build_residual_mf(data["n_users"], data["n_items"], 15, 512), 128
    else:
        model, batch = kr.build_deep(data["n_users"], data["n_items"], 10), 1024
    model.compile(loss="mse", optimizer=kr.keras.optimizers.SGD(learning_rate=0.08, momentum=0.9))
    y = (data["tr_r"] - data["mu"]).astype(np.float32).reshape(-1, 1)
    x = kr._ui(data, "tr")
    rng = np.random.default_rng(42)
    seconds, cpu = [], []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit([a[order] for a in x], y[order], batch_size=batch, epochs=1, shuffle=False, verbose=0)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)  # all of the process's threads
    print("RESULT " + json.dumps({"seconds": seconds, "cpu_seconds": cpu}))


def run_keras(python, model_key, epochs):
    out = subprocess.run([python, __file__, "--keras-worker", model_key, "--epochs", str(epochs)],
                         capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"Keras worker failed:\n{out.stderr[-2000:]}")


# ------------------------------------------------------------------ mfcore
def load_split():
    from mfcore.data.movielens import load_ml100k
    from mfcore.data.split import random_split

    return random_split(load_ml100k(DATA / "ml-100k"), 0.2, rng=42)


def curve(model):
    h = model.history_
    v = h["val_rmse_clipped"]
    return {"val_rmse_clipped": v.tolist(), "train_loss": h["train_loss"].tolist(),
            "seconds": h["seconds"].tolist(), "best": float(v.min()), "best_epoch": int(v.argmin()) + 1,
            "final": float(v[-1])}


def part_accuracy(train, test, keras, only=None, rows=None):
    from mfcore import make_model

    rows = dict(rows or {})
    for label, name, params, key in ACCURACY:
        if only and not any(o in label for o in only):
            continue
        t0 = time.perf_counter()
        m = make_model(name, rng=42, **params).fit(train, test)
        entry = dict(curve(m), model=name, params=params, keras_key=key, wall_seconds=time.perf_counter() - t0)
        if name == "rncf":
            s1 = m.stage_histories_["stage1"]
            entry["stage1"] = {"best": s1.best("val_rmse_clipped")[1], "final": float(s1["val_rmse_clipped"][-1])}
            entry["stage2_val_mse"] = m.stage_histories_["stage2"]["val_mse"].tolist()
            entry["error_target_mean"] = m.error_target_mean_
        k = keras.get(key, {}).get("80/20") if key else None
        if k:
            entry["keras"] = {"best": k["best"]["val_rmse_clipped"], "best_epoch": k["best"]["epoch"],
                              "final": k["final"]["val_rmse_clipped"],
                              "val_rmse_clipped": k["epochs"]["val_rmse_clipped"]}
        rows[label] = entry
        print(f"{label}: best {entry['best']:.4f} @ {entry['best_epoch']}, final {entry['final']:.4f}", flush=True)
    return rows


def part_tuned(train, test):
    from mfcore import EarlyStopping, make_model

    perm = np.random.default_rng(0).permutation(len(train))
    cut = len(train) - len(train) // 10
    fit_part, hold = train.subset(perm[:cut]), train.subset(perm[cut:])
    grid = []
    for params in TUNE_GRID:
        m = make_model("residual-mf", rng=42, n_epochs=40, **params)
        m.fit(fit_part, hold, callbacks=[EarlyStopping(patience=4, restore_best=False)])
        epoch, value = m.history_.best("val_rmse")
        grid.append({"params": params, "holdout_rmse": value, "best_epoch": epoch})
        print(f"tune {params}: holdout {value:.4f} @ {epoch}", flush=True)
    choice = min(grid, key=lambda g: g["holdout_rmse"])
    res = make_model("residual-mf", rng=42, n_epochs=choice["best_epoch"], **choice["params"]).fit(train, test)
    bmf = make_model("biased-mf", rng=42).fit(train, test)
    out = {"grid": grid, "chosen": choice, "residual": res.evaluate(test), "biased_mf": bmf.evaluate(test),
           "biased_mf_params": bmf.get_params()}
    out["residual_beats_biased_mf"] = out["residual"]["rmse"] < out["biased_mf"]["rmse"]
    print(f"tuned residual {out['residual']['rmse']:.4f} vs biased-mf {out['biased_mf']['rmse']:.4f}", flush=True)
    return out


def mfcore_seconds(train, name, params, dtype, epochs):
    from mfcore import make_model

    cpu = []  # process CPU time at the end of each epoch (one thread: the work done)
    m = make_model(name, rng=42, n_epochs=epochs + 1, dtype=dtype, **params)
    m.fit(train, callbacks=[lambda epoch, logs, model: cpu.append(time.process_time())])
    h = m.history_
    out = {k: h[k].tolist()[1:] for k in ("seconds", "forward_seconds", "backward_seconds", "update_seconds")}
    out["cpu_seconds"] = np.diff(cpu).tolist()  # epochs 2.. (epoch 1 holds the set-up)
    return out


def part_speed(train, python, epochs, rounds, only=None, out=None):
    out = dict(out or {})
    for label, name, params, key, batch in SPEED:
        if only and not any(o in label for o in only):
            continue
        rec = {"batch_size": batch, "mfcore_float64": [], "mfcore_float32": [], "keras": [],
               "load_average_at_start": os.getloadavg()[0]}
        for _ in range(rounds):  # alternate so that load changes hit both sides
            rec["mfcore_float64"].append(mfcore_seconds(train, name, params, "float64", epochs))
            k = run_keras(python, key, epochs + 1)
            rec["keras"].append({"seconds": k["seconds"][1:], "cpu_seconds": k["cpu_seconds"][1:]})  # drop tracing
            rec["mfcore_float32"].append(mfcore_seconds(train, name, params, "float32", epochs))
        def med(runs, key):
            return float(np.median(sum((r[key] for r in runs), [])))
        rec["median"] = {"keras": med(rec["keras"], "seconds"), "keras_cpu": med(rec["keras"], "cpu_seconds")}
        for side in ("mfcore_float64", "mfcore_float32"):
            m = rec["median"][side] = {k: med(rec[side], k) for k in ("seconds", "forward_seconds",
                                                                      "backward_seconds", "update_seconds",
                                                                      "cpu_seconds")}
            m["speedup_vs_keras"] = rec["median"]["keras"] / m["seconds"]
            m["cpu_ratio_vs_keras"] = rec["median"]["keras_cpu"] / m["cpu_seconds"]
        out[label] = rec
        print(label, json.dumps(rec["median"]), flush=True)
    return out


# ----------------------------------------------------------------- report
def markdown(results):
    sys.path.insert(0, str(HERE))
    from _common import markdown_table

    lines = ["# Neural models on ML-100k 80/20 (issue 4)", "",
             "Produced by `benchmarks/bench_neural.py`. Test RMSE clipped to 1-5, rng 42, float64; "
             "best epoch chosen on the test set (optimistic, as in the Keras reference). The s/epoch "
             "column is the wall time of these accuracy runs on a shared, busy 2-CPU machine (several "
             "runs at once): compare speed in the last section only.", ""]
    acc = results.get("accuracy")
    if acc:
        rows = []
        for label, e in acc.items():
            k = e.get("keras")
            rows.append([label, f"{e['best']:.4f} @ {e['best_epoch']}", f"{e['final']:.4f}",
                         f"{k['best']:.4f} @ {k['best_epoch']}" if k else "-", k["final"] if k else None,
                         f"{e['best'] - k['best']:+.4f} / {e['final'] - k['final']:+.4f}" if k else "-",
                         float(np.median(e["seconds"]))])
        lines += ["## Accuracy against Keras", "",
                  markdown_table(["model", "mfcore best", "mfcore final", "Keras best", "Keras final",
                                  "diff best / final", "s/epoch"], rows), ""]
        for label in ("RNCF corrected", "RNCF notebook bug"):
            if label in acc:
                e = acc[label]
                lines.append(f"- {label}: stage 1 alone best {e['stage1']['best']:.4f} / final "
                             f"{e['stage1']['final']:.4f}; stage-2 target mean {e['error_target_mean']:.3f}; "
                             f"stage 3 curve {', '.join(f'{v:.3f}' for v in e['val_rmse_clipped'])}.")
        lines.append("")
    tuned = results.get("tuned")
    if tuned:
        c = tuned["chosen"]
        lines += ["## Tuned residual MF against tuned biased MF", "",
                  f"Chosen on a 90/10 holdout of the training rows (never the test set): {c['params']}, "
                  f"{c['best_epoch']} epochs (holdout RMSE {c['holdout_rmse']:.4f}); refitted on all "
                  "training rows.", "",
                  markdown_table(["model", "test RMSE", "test MAE"],
                                 [["residual-mf (tuned)", tuned["residual"]["rmse"], tuned["residual"]["mae"]],
                                  ["biased-mf (defaults)", tuned["biased_mf"]["rmse"], tuned["biased_mf"]["mae"]]]),
                  "", "Grid: " + "; ".join(f"{g['params']} -> {g['holdout_rmse']:.4f} @ {g['best_epoch']}"
                                          for g in tuned["grid"]), ""]
    speed = results.get("speed")
    if speed:
        rows = []
        for label, rec in speed.items():
            m = rec["median"]
            for side in ("mfcore_float64", "mfcore_float32"):
                s = m[side]
                rows.append([label, rec["batch_size"], side.replace("mfcore_", "mfcore "), s["seconds"],
                             s["forward_seconds"], s["backward_seconds"], s["update_seconds"], m["keras"],
                             f"{s['speedup_vs_keras']:.2f}x", s["cpu_seconds"], m["keras_cpu"],
                             f"{s['cpu_ratio_vs_keras']:.2f}x"])
        lines += ["## Seconds per epoch against TensorFlow/Keras (same session, alternating runs)", "",
                  markdown_table(["model", "batch", "mfcore", "wall s/epoch", "forward", "backward", "update",
                                  "Keras wall", "wall speed-up", "CPU s/epoch", "Keras CPU", "CPU ratio"],
                                 rows), "",
                  "Load average (1 min) at the start of each model's runs: "
                  + ", ".join(f"{k} {r.get('load_average_at_start', float('nan')):.1f}" for k, r in speed.items())
                  + " on 2 CPUs. Medians over all timed epochs (mfcore's and Keras' first epoch dropped: set-up and "
                  "tracing). Keras runs float32 with 2 intra-op threads; mfcore one thread. CPU seconds "
                  "are the process's CPU time (all threads): the work each side does, which a busy shared "
                  "machine distorts less than wall time.", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", nargs="+", default=["accuracy", "tuned", "speed"])
    p.add_argument("--keras-python", default="/work/tfvenv/bin/python")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per speed run")
    p.add_argument("--rounds", type=int, default=2, help="alternating speed rounds")
    p.add_argument("--only", nargs="+", help="accuracy/speed: rerun only the models whose label contains "
                   "one of these strings (the others are kept from the JSON file)")
    p.add_argument("--keras-worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.keras_worker:
        return keras_worker(args.keras_worker, args.epochs)
    sys.path.insert(0, str(HERE))
    from _common import RESULTS, environment, write_results

    path = RESULTS / "neural.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    keras_path = RESULTS / "keras_reference.json"
    keras = json.loads(keras_path.read_text())["results"] if keras_path.exists() else {}
    train, test = load_split() if set(args.parts) - {"report"} else (None, None)
    if "accuracy" in args.parts:
        results["accuracy"] = part_accuracy(train, test, keras, args.only, results.get("accuracy"))
    if "tuned" in args.parts:
        results["tuned"] = part_tuned(train, test)
    if "speed" in args.parts:
        results["speed"] = part_speed(train, args.keras_python, args.epochs, args.rounds, args.only,
                                      results.get("speed"))
    latest = json.loads(path.read_text()) if path.exists() else {}  # another run may have written
    for part in ("accuracy", "tuned", "speed"):
        if part in args.parts:
            merged = part in ("accuracy", "speed")
            latest[part] = {**latest.get(part, {}), **results[part]} if merged else results[part]
    latest["environment"] = environment()
    write_results("neural", latest, markdown(latest))


if __name__ == "__main__":
    sys.exit(main())
