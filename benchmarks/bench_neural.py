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
  Keras in a subprocess that builds the models with ``keras_reference.py``'s own
  definitions; every mfcore side, too, in a fresh child process. Two more float32
  sides in the same rounds: this code with two BLAS threads (Keras' thread count;
  needs threadpoolctl), and the mfcore of ``--baseline`` (default ``fc8e4e7``, the
  code when issue 9 was filed) checked out into a temporary git worktree. The
  Keras interpreter: this interpreter when it can import TensorFlow, else the one given
  by ``--keras-python`` (or ``$MFCORE_TF_PYTHON``). Without TensorFlow the Keras
  columns say "not installed" and the mfcore rows are still measured.

mfcore runs with ``OPENBLAS_NUM_THREADS=1`` unless set (small products; on a shared
2-core machine extra BLAS threads only contend); the thread count actually used is
read with threadpoolctl (``pip install -e ".[bench]"``; "not installed" otherwise).

    python benchmarks/bench_neural.py [--parts accuracy tuned speed] [--keras-python PATH]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

from _common import (NOT_INSTALLED, RESULTS, checkout_of, environment, markdown_table,  # noqa: E402
                     ml100k_dir, peer_python, write_results)

ACCURACY = [  # (label, mfcore model, params, keras_reference key)
    ("residual K15-512", "residual-mf", {}, "residual_mf_k15_d512"),
    ("residual K10-400", "residual-mf", {"n_factors": 10, "hidden_units": 400}, "residual_mf_k10_d400"),
    ("deep (Netflix)", "deep", {}, "deep"),
    ("deep plain (512)", "deep", {"plain": True, "hidden_units": 512}, None),
    ("resnet-mf (toy nb)", "resnet-mf", {}, None),
    ("RNCF corrected", "rncf", {"mlp_lr": 0.01, "early_stopping": False}, "rncf_fixed"),
    ("RNCF notebook bug", "rncf", {"error_target": "notebook", "mlp_lr": 0.01, "early_stopping": False},
     "rncf_bug"),
]
# Tuned residual MF (issue 4), chosen on a 90/10 holdout of the training rows in two stages:
# (A) the MF part = the warm-start BiasedMF (K, lr, reg; per-rating SGD, best epoch of up to
# `epochs`), the first row being BiasedMF's own defaults; (B) the residual epochs on top of
# the chosen MF part ("mf_reg" = stage A's reg). Probes on the holdout only led to these rows.
TUNE_MF_GRID = [{"n_factors": 100, "lr": 0.01, "reg": 0.05, "epochs": 60},
                {"n_factors": 300, "lr": 0.01, "reg": 0.07, "epochs": 60},
                {"n_factors": 300, "lr": 0.005, "reg": 0.06, "epochs": 100},
                {"n_factors": 500, "lr": 0.005, "reg": 0.07, "epochs": 100}]
TUNE_RESIDUAL_GRID = [{"hidden_units": 64, "lr": 0.001, "reg_per_rating": 0.0},
                      {"hidden_units": 64, "lr": 0.003, "reg_per_rating": 0.0},
                      {"hidden_units": 64, "lr": 0.003, "reg_per_rating": 0.02},
                      {"hidden_units": 64, "lr": 0.003, "reg_per_rating": "mf_reg"},
                      {"hidden_units": 256, "lr": 0.003, "reg_per_rating": 0.0}]
TUNE_RESIDUAL_EPOCHS = 10
TUNE_SEEDS = (42, 43, 44)  # the refits: rng 42 is the headline, 43 and 44 show the seed noise
SPEED = [("residual K15-512", "residual-mf", {}, "residual_mf_k15_d512", 128),
         ("deep (Netflix)", "deep", {}, "deep", 1024)]


# --------------------------------------------------------------- Keras worker
def keras_worker(model_key, epochs, data_dir):
    """Run by an interpreter with TensorFlow: time ``epochs`` epochs of a reference model, print
    JSON. ``data_dir`` holds ``ml-100k/`` (the worker may not have mfcore to look for it)."""
    import keras_reference as kr

    kr._layers()
    kr._reseed()
    data = kr.load_split(data_dir, "80/20")
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
    out = subprocess.run([python, __file__, "--keras-worker", model_key, "--epochs", str(epochs),
                          "--data-dir", str(ml100k_dir().parent)],
                         capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"Keras worker failed:\n{out.stderr[-2000:]}")


# ------------------------------------------------------------------ mfcore
def load_split():
    from mfcore.data.movielens import load_ml100k
    from mfcore.data.split import random_split

    return random_split(load_ml100k(ml100k_dir()), 0.2, rng=42)


def curve(model):
    h = model.history_
    v = h["test_rmse_clipped"]  # the test monitor (recorded only), compared with Keras' curve
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
        m = make_model(name, rng=42, **params).fit(train, monitor=test)
        entry = dict(curve(m), model=name, params=params, keras_key=key, wall_seconds=time.perf_counter() - t0)
        if name == "rncf":
            s1 = m.stage_histories_["stage1"]
            entry["stage1"] = {"best": s1.best("test_rmse_clipped")[1], "final": float(s1["test_rmse_clipped"][-1])}
            entry["stage2_val_mse"] = m.stage_histories_["stage2"]["test_mse"].tolist()
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
    """Tune the residual model on a 90/10 holdout of ``train`` (stages A and B above), refit
    on all of ``train`` and read ``test`` once; biased MF with its tuned defaults alongside."""
    from mfcore import EarlyStopping, make_model

    perm = np.random.default_rng(0).permutation(len(train))
    cut = len(train) - len(train) // 10
    fit_part, hold = train.subset(perm[:cut]), train.subset(perm[cut:])
    mf_grid = []
    for g in TUNE_MF_GRID:  # stage A: the MF part, per-rating SGD as BiasedMF
        t0 = time.perf_counter()
        m = make_model("biased-mf", rng=42, n_factors=g["n_factors"], lr=g["lr"], reg=g["reg"],
                       n_epochs=g["epochs"]).fit(fit_part, hold)
        epoch, value = m.history_.best("val_rmse")
        mf_grid.append({"params": g, "holdout_rmse": value, "best_epoch": epoch,
                        "holdout_rmse_at_35": float(m.history_["val_rmse"][34]),
                        "wall_seconds": time.perf_counter() - t0})
        print(f"tune MF part {g}: holdout {value:.4f} @ {epoch}", flush=True)
    mf_choice = min(mf_grid, key=lambda g: g["holdout_rmse"])
    mf = mf_choice["params"]
    warm = {"warm_start": "biased-mf", "n_factors": mf["n_factors"], "mf_lr": mf["lr"], "mf_reg": mf["reg"],
            "mf_epochs": mf_choice["best_epoch"]}
    grid = []
    for g in TUNE_RESIDUAL_GRID:  # stage B: the residual epochs from the chosen MF part
        params = dict(g, reg_per_rating=mf["reg"] if g["reg_per_rating"] == "mf_reg" else g["reg_per_rating"])
        t0 = time.perf_counter()
        m = make_model("residual-mf", rng=42, n_epochs=TUNE_RESIDUAL_EPOCHS, **warm, **params)
        m.fit(fit_part, hold, callbacks=[EarlyStopping(patience=3, restore_best=False)])
        epoch, value = m.history_.best("val_rmse")
        grid.append({"params": params, "grid_row": g, "holdout_rmse": value, "best_epoch": epoch,
                     "val_rmse": m.history_["val_rmse"].tolist(),
                     "seconds_per_epoch": float(np.median(m.history_["seconds"])),
                     "wall_seconds": time.perf_counter() - t0})
        print(f"tune residual {params}: holdout {value:.4f} @ {epoch}", flush=True)
    choice = min(grid, key=lambda g: g["holdout_rmse"])
    chosen = dict(warm, **choice["params"], n_epochs=choice["best_epoch"])
    mf_alone = {"n_factors": mf["n_factors"], "lr": mf["lr"], "reg": mf["reg"], "n_epochs": mf_choice["best_epoch"]}
    refits = {}
    for seed in TUNE_SEEDS:  # refit on all training rows; the test set is read here only
        row = {}
        for key, name, params in (("residual", "residual-mf", chosen), ("biased_mf", "biased-mf", {}),
                                  ("mf_part_alone", "biased-mf", mf_alone)):
            t0 = time.perf_counter()
            m = make_model(name, rng=seed, **params).fit(train)
            row[key] = dict(m.evaluate(test), wall_seconds=time.perf_counter() - t0)
            if name == "residual-mf":
                row[key]["warm_start_seconds"] = m.warm_start_seconds_
                row[key]["seconds_per_epoch"] = float(np.median(m.history_["seconds"]))
        refits[str(seed)] = row
        print(f"seed {seed}: tuned residual {row['residual']['rmse']:.4f}, biased-mf {row['biased_mf']['rmse']:.4f}, "
              f"MF part alone {row['mf_part_alone']['rmse']:.4f}", flush=True)
    first = refits[str(TUNE_SEEDS[0])]
    out = {"mf_grid": mf_grid, "mf_chosen": mf_choice, "grid": grid, "chosen": choice, "chosen_params": chosen,
           "residual": first["residual"], "biased_mf": first["biased_mf"], "mf_part_alone": first["mf_part_alone"],
           "biased_mf_params": make_model("biased-mf").get_params(), "refits": refits,
           "residual_max_epochs": TUNE_RESIDUAL_EPOCHS}
    out["residual_beats_biased_mf"] = bool(out["residual"]["rmse"] < out["biased_mf"]["rmse"])
    out["residual_beats_biased_mf_every_seed"] = all(r["residual"]["rmse"] < r["biased_mf"]["rmse"]
                                                     for r in refits.values())
    return out


def blas_threads():
    """The BLAS thread count mfcore runs with (``OPENBLAS_NUM_THREADS``, 1 unless set), or
    "not installed" without threadpoolctl (the ``bench`` extra)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"threadpoolctl {NOT_INSTALLED}"
    return max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), default=1)


def mfcore_seconds(train, name, params, dtype, epochs, blas_threads=None):
    """Per-epoch seconds of one fit (epochs after the first); ``blas_threads``: the BLAS thread
    count for this fit (threadpoolctl), None = as the process runs."""
    from mfcore import make_model

    limit = nullcontext()
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(blas_threads, user_api="blas")
    cpu = []  # process CPU time (all threads) at the end of each epoch: the work done
    m = make_model(name, rng=42, n_epochs=epochs + 1, dtype=dtype, **params)
    with limit:
        m.fit(train, callbacks=[lambda epoch, logs, model: cpu.append(time.process_time())])
    h = m.history_
    out = {k: h[k].tolist()[1:] for k in ("seconds", "forward_seconds", "backward_seconds", "update_seconds")}
    out["cpu_seconds"] = np.diff(cpu).tolist()  # epochs 2.. (epoch 1 holds the set-up)
    return out


def products_seconds(train, name, params, dtype, epochs, blas_threads=None):
    """Per-epoch seconds of the matrix products ALONE that one epoch of ``name``'s jit engine
    runs: the same shapes, dtype, batch count and BLAS calls (``np.matmul`` into reused
    buffers), on random operands, with nothing else: what BLAS alone costs for that epoch on
    this machine, a floor under the epoch. Per batch of B rows and per hidden Dense layer
    j (kernel W_j, n_{j-1} x n_j): z_j = x_{j-1} W_j, dW_j = x_{j-1}^T dz_j and
    dx_{j-1} = dz_j W_j^T (for j = 1 too: the embeddings' gradient); for the one-unit output
    layer the two matrix-vector products x_J w_o and d^T x_J (its input gradient is an outer
    product, not counted)."""
    from mfcore import make_model

    limit = nullcontext()
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(blas_threads, user_api="blas")
    m = make_model(name, rng=42, n_epochs=1, dtype=dtype, **params).fit(train)  # the real shapes
    kernels = [w for key, w in m.net_.params.items() if key.endswith("/kernel")]  # W_1 .. W_J, w_o
    B, n, rng = m.batch_size, len(train), np.random.default_rng(0)
    widths = [kernels[0].shape[0]] + [w.shape[1] for w in kernels[:-1]]  # n_0 .. n_J
    X = [rng.standard_normal((B, w)).astype(dtype) for w in widths]  # x_j, and dz_j in the same shapes
    DZ = [x.copy() for x in X[1:]]
    DX = [x.copy() for x in X[:-1]]
    G = [np.empty_like(w) for w in kernels[:-1]]
    Z = [np.empty_like(x) for x in X[1:]]
    wo, d, yo, go = kernels[-1][:, 0], X[0][:, 0].copy(), np.empty(B, dtype), np.empty(widths[-1], dtype)
    seconds = []
    with limit:
        for _ in range(epochs):
            t0 = time.perf_counter()
            for start in range(0, n, B):
                b = min(B, n - start)
                for j, W in enumerate(kernels[:-1]):
                    np.matmul(X[j][:b], W, out=Z[j][:b])
                np.matmul(X[-1][:b], wo, out=yo[:b])
                np.matmul(d[:b], X[-1][:b], out=go)
                for j in range(len(kernels) - 2, -1, -1):
                    np.matmul(X[j][:b].T, DZ[j][:b], out=G[j])
                    np.matmul(DZ[j][:b], kernels[j].T, out=DX[j][:b])
            seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds}


def child_seconds(root, name, params, dtype, epochs, blas_threads=None, fn="mfcore_seconds"):
    """``fn`` (``mfcore_seconds`` or ``products_seconds``) in a fresh child process that imports
    the mfcore found at ``root`` (this checkout, or an earlier version checked out by
    ``checkout_of``): every timed side starts from the same state."""
    code = (f"import json; from bench_neural import load_split, {fn}; print(json.dumps("
            f"{fn}(load_split()[0], {name!r}, {params!r}, {dtype!r}, {epochs}, {blas_threads!r})))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(Path(__file__).resolve().parent)]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"a timed run failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def paired_ratios(keras_runs, mfcore_runs):
    """Lowest and highest per-round ratio of median Keras to median mfcore wall s/epoch (each
    mfcore run paired with the Keras run next to it: the spread a changing load causes)."""
    r = [float(np.median(k["seconds"]) / np.median(m["seconds"])) for k, m in zip(keras_runs, mfcore_runs)]
    return [min(r), max(r)]


def part_speed(python, epochs, rounds, only=None, out=None, baseline=None):
    """Every mfcore side runs in a child process that loads the split itself (``child_seconds``)."""
    with checkout_of(baseline) if baseline else nullcontext() as root:
        return _part_speed(python, epochs, rounds, only, out, baseline if root else None, root)


def _part_speed(python, epochs, rounds, only, out, baseline, root):
    out = dict(out or {})
    python, keras_note = peer_python("tensorflow", python)
    print(f"Keras side: {keras_note}", flush=True)
    try:
        import threadpoolctl  # noqa: F401
        two_blas = True
    except ImportError:
        two_blas = False
    here = Path(__file__).resolve().parents[1]  # this checkout's mfcore (an installed copy may differ)
    for label, name, params, key, batch in SPEED:
        if only and not any(o in label for o in only):
            continue
        rec = {"batch_size": batch, "mfcore_float64": [], "mfcore_float32": [], "keras": [],
               "keras_note": keras_note, "load_average_at_start": os.getloadavg()[0],
               "mfcore_blas_threads": blas_threads(), "params": params, "baseline": baseline}
        sides = ["mfcore_float64", "mfcore_float32"] + ["mfcore_float32_blas2"] * two_blas + ["baseline_float32"] * (
            root is not None) + ["products_float32"] + ["products_float32_blas2"] * two_blas
        for side in sides[2:]:
            rec[side] = []
        for _ in range(rounds):  # alternate so that load changes hit every side
            rec["mfcore_float64"].append(child_seconds(here, name, params, "float64", epochs))
            if python is not None:
                k = run_keras(python, key, epochs + 1)
                rec["keras"].append({"seconds": k["seconds"][1:], "cpu_seconds": k["cpu_seconds"][1:]})  # drop tracing
            rec["mfcore_float32"].append(child_seconds(here, name, params, "float32", epochs))
            if root is not None:
                rec["baseline_float32"].append(child_seconds(root, name, params, "float32", epochs))
            if two_blas:
                rec["mfcore_float32_blas2"].append(child_seconds(here, name, params, "float32", epochs, 2))
            rec["products_float32"].append(child_seconds(here, name, params, "float32", epochs,
                                                         fn="products_seconds"))
            if two_blas:
                rec["products_float32_blas2"].append(child_seconds(here, name, params, "float32", epochs, 2,
                                                                   fn="products_seconds"))
        def med(runs, key):
            return float(np.median(sum((r[key] for r in runs), []))) if runs else None
        rec["median"] = {"keras": med(rec["keras"], "seconds"), "keras_cpu": med(rec["keras"], "cpu_seconds")}
        for side in sides:
            m = rec["median"][side] = {k: med(rec[side], k) if k in rec[side][0] else None
                                       for k in ("seconds", "forward_seconds", "backward_seconds",
                                                 "update_seconds", "cpu_seconds")}
            have_keras = rec["median"]["keras"] is not None
            m["speedup_vs_keras"] = rec["median"]["keras"] / m["seconds"] if have_keras else None
            m["cpu_ratio_vs_keras"] = (rec["median"]["keras_cpu"] / m["cpu_seconds"]
                                       if have_keras and m["cpu_seconds"] else None)
            m["speedup_range"] = paired_ratios(rec["keras"], rec[side]) if have_keras else None
        if root is not None:  # this code against the baseline's, round by round
            r = [float(np.median(b["seconds"]) / np.median(m["seconds"]))
                 for b, m in zip(rec["baseline_float32"], rec["mfcore_float32"])]
            rec["median"]["float32_vs_baseline"] = {"median": float(np.median(r)), "range": [min(r), max(r)]}
        for side, floor in (("mfcore_float32", "products_float32"), ("mfcore_float32_blas2", "products_float32_blas2")):
            if floor in rec:  # the epoch over its products alone, round by round
                r = [float(np.median(e["seconds"]) / np.median(f["seconds"])) for e, f in zip(rec[side], rec[floor])]
                rec["median"][side]["over_products"] = {"median": float(np.median(r)), "range": [min(r), max(r)]}
        rec["load_average_at_end"] = os.getloadavg()[0]
        out[label] = rec
        print(label, json.dumps(rec["median"]), flush=True)
    return out


# ----------------------------------------------------------------- report
SIDES = {"mfcore_float64": "mfcore float64", "mfcore_float32": "mfcore float32",
         "mfcore_float32_blas2": "mfcore float32, 2 BLAS threads",
         "baseline_float32": "mfcore at {ref} (Nov 23) float32",
         "products_float32": "its matrix products alone, float32",
         "products_float32_blas2": "its matrix products alone, float32, 2 BLAS threads"}
BASELINE = "fc8e4e7"  # the code when issue 9 was filed: its speed-up over Keras is the bar


def markdown(results):
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
    if tuned and "mf_grid" in tuned:
        c, mc, cp = tuned["chosen"], tuned["mf_chosen"], tuned["chosen_params"]
        seeds = list(tuned["refits"])
        rows = []
        for key, label in (("residual", "residual-mf (tuned, warm start)"),
                           ("biased_mf", "biased-mf (its tuned defaults)"),
                           ("mf_part_alone", "its MF part alone (biased-mf, stage-A settings)")):
            per_seed = [tuned["refits"][s][key]["rmse"] for s in seeds]
            rows.append([label, tuned[key]["rmse"], tuned[key]["mae"], ", ".join(f"{v:.4f}" for v in per_seed),
                         float(np.mean(per_seed)), tuned[key]["wall_seconds"]])
        r = tuned["residual"]
        lines += ["## Tuned residual MF against tuned biased MF", "",
                  "Settings chosen on a 90/10 holdout of the training rows only (permutation seed 0; "
                  "holdout RMSE unclipped), then refitted on all training rows; the test set is read once per "
                  "refit. Stage A tunes the MF part, i.e. the warm-start BiasedMF (per-rating SGD, best epoch); "
                  "stage B the residual epochs started from it (side-branch output layer at zero, Keras SGD "
                  "momentum 0.9, batch 128, best epoch of up to "
                  f"{tuned['residual_max_epochs']} with patience 3).", "",
                  "Chosen: `" + " ".join(f"{k}={v}" for k, v in cp.items()) + "` (MF part holdout "
                  f"{mc['holdout_rmse']:.4f} @ {mc['best_epoch']}, with the residual epochs {c['holdout_rmse']:.4f} "
                  f"@ {c['best_epoch']}; biased-mf defaults: holdout {tuned['mf_grid'][0]['holdout_rmse_at_35']:.4f} "
                  "at its 35 epochs).", "",
                  markdown_table(["model", "test RMSE (rng 42)", "test MAE (rng 42)",
                                  f"test RMSE rng {', '.join(seeds)}", "mean", "fit seconds (rng 42)"], rows), "",
                  f"The residual model fits in {r['wall_seconds']:.1f} s: {r['warm_start_seconds']:.1f} s for the "
                  f"warm-start BiasedMF, then {cp['n_epochs']} residual epochs of {r['seconds_per_epoch']:.2f} s "
                  "(jit engine, float64, busy shared 2-CPU machine). Most of the gain over biased-mf comes from "
                  "the MF part's own settings (compare the third row); the residual epochs add the difference "
                  "between the first and third rows. The chosen residual run's best holdout epoch was its "
                  "last one, so a longer epoch budget might gain a little more (not tried).", "",
                  "Stage A grid (MF part; holdout RMSE @ best epoch): "
                  + "; ".join(f"K={g['params']['n_factors']} lr={g['params']['lr']} reg={g['params']['reg']} -> "
                              f"{g['holdout_rmse']:.4f} @ {g['best_epoch']}" for g in tuned["mf_grid"]), "",
                  "Stage B grid (residual epochs; holdout RMSE @ best epoch): "
                  + "; ".join(f"hidden={g['params']['hidden']} lr={g['params']['lr']} reg_per_rating="
                              f"{g['params']['reg_per_rating']} -> {g['holdout_rmse']:.4f} @ {g['best_epoch']}"
                              for g in tuned["grid"]), ""]
    speed = results.get("speed")
    if speed:
        rows = []
        for label, rec in speed.items():
            m = rec["median"]
            for side in SIDES:
                if side not in m:
                    continue
                s = m[side]
                lo_hi = s.get("speedup_range")
                no_keras = rec.get("keras_note", NOT_INSTALLED) if m["keras"] is None else None
                rows.append([label, rec["batch_size"], SIDES[side].format(ref=rec.get("baseline")), s["seconds"],
                             s["forward_seconds"], s["backward_seconds"], s["update_seconds"],
                             m["keras"] if no_keras is None else f"TensorFlow {NOT_INSTALLED}",
                             f"{s['speedup_vs_keras']:.2f}x" + (f" ({lo_hi[0]:.2f}-{lo_hi[1]:.2f})" if lo_hi else "")
                             if no_keras is None else None,
                             s["cpu_seconds"], m["keras_cpu"] if s["cpu_seconds"] else None,
                             f"{s['cpu_ratio_vs_keras']:.2f}x" if no_keras is None and s["cpu_ratio_vs_keras"]
                             else None])
        threads = sorted({str(r.get("mfcore_blas_threads", 1)) for r in speed.values()})
        known = [n for n in threads if n.isdigit()]  # the others: threadpoolctl was not installed
        threads_text = (f"{' or '.join(known)} thread(s)" if known
                        else "a thread count not recorded (threadpoolctl not installed)")
        lines += ["## Seconds per epoch against TensorFlow/Keras (same session, alternating runs)", "",
                  markdown_table(["model", "batch", "mfcore", "wall s/epoch", "forward", "backward", "update",
                                  "Keras wall", "wall speed-up (per round)", "CPU s/epoch", "Keras CPU",
                                  "CPU ratio"], rows), "",
                  "Load average (1 min) at the start / end of each model's runs: "
                  + ", ".join(f"{k} {r.get('load_average_at_start', float('nan')):.1f} / "
                              f"{r.get('load_average_at_end', float('nan')):.1f}" for k, r in speed.items())
                  + " on 2 CPUs shared with other work. Medians over all timed epochs (mfcore's and Keras' "
                  "first epoch dropped: set-up and tracing); in brackets the lowest and highest ratio of one "
                  "round's medians (each mfcore run against the Keras run beside it). Keras runs float32 "
                  "(its default) with 2 intra-op threads and op determinism on; mfcore's BLAS runs "
                  f"{threads_text} (`OPENBLAS_NUM_THREADS`, 1 unless set: on a "
                  "shared 2-core machine a second BLAS thread slows the residual model's small products and "
                  "speeds up the deep model's larger ones: the rows \"2 BLAS threads\"), its own loops one. "
                  "The like-for-like "
                  "comparison is the float32 row: same precision as Keras. CPU seconds are the process's CPU "
                  "time (all threads): the work each side does, which a busy shared machine distorts less than "
                  "wall time. mfcore's split: forward = gather + layers + loss, backward = every gradient, "
                  "update = the optimizer step. The deep model runs its default engine \"jit\" (fused "
                  "BatchNorm -> ReLU -> Dropout Numba kernels around BLAS products)."]
        vs = {k: r["median"]["float32_vs_baseline"] for k, r in speed.items()
              if "float32_vs_baseline" in r["median"]}
        if vs:
            ref = next(r["baseline"] for r in speed.values() if r.get("baseline"))
            lines[-1] += (
                f" The row \"mfcore at {ref}\" is the code of Nov 23, 2026 (before the one training "
                "framework of issue 9), checked out into a temporary git worktree and timed in a child process "
                "in the same rounds: this code's float32 epoch against it, median of the per-round ratios (lowest-"
                "highest): " + ", ".join(f"{k} {v['median']:.2f}x ({v['range'][0]:.2f}-{v['range'][1]:.2f})"
                                          for k, v in vs.items()) + " (above 1: faster now).")
        over = [(k, t, r["median"][side]["over_products"]) for k, r in speed.items()
                for side, t in (("mfcore_float32", "1 BLAS thread"), ("mfcore_float32_blas2", "2 BLAS threads"))
                if "over_products" in r["median"].get(side, {})]
        if over:
            lines[-1] += (
                " The rows \"its matrix products alone\" time only the BLAS products that one epoch of the "
                "jit engine makes (the same shapes, dtype, batches and calls, on random operands; "
                "`products_seconds`): a floor that no fusing of the other steps can go below, and their "
                "speed-up column is the most that epoch could show against this Keras run. The float32 epoch "
                "over its products, median of the per-round ratios (lowest-highest): "
                + ", ".join(f"{k} on {t} {v['median']:.2f}x ({v['range'][0]:.2f}-{v['range'][1]:.2f})"
                            for k, t, v in over) + ".")
        if any("mfcore_float32_blas2" in r["median"] for r in speed.values()):
            lines[-1] += (" The row \"2 BLAS threads\" runs the same fit with the BLAS pool limited to two "
                          "threads (threadpoolctl), as Keras has two intra-op threads and as mfcore runs when no "
                          "thread variable is set.")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", nargs="+", default=["accuracy", "tuned", "speed"])
    p.add_argument("--keras-python", default=os.environ.get("MFCORE_TF_PYTHON"), metavar="PATH",
                   help="speed: a Python that can import TensorFlow (default: $MFCORE_TF_PYTHON, else "
                        "this interpreter when it has TensorFlow; without it the Keras columns say "
                        "'not installed')")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per speed run")
    p.add_argument("--rounds", type=int, default=2, help="alternating speed rounds")
    p.add_argument("--baseline", default=BASELINE, metavar="REF",
                   help=f"speed: also time the mfcore of this git ref in the same rounds (default {BASELINE}, "
                        "the code when issue 9 was filed; 'none' to skip)")
    p.add_argument("--only", nargs="+", help="accuracy/speed: rerun only the models whose label contains "
                   "one of these strings (the others are kept from the JSON file)")
    p.add_argument("--keras-worker", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)  # the Keras worker's ML-100k parent folder
    args = p.parse_args(argv)
    if args.keras_worker:
        return keras_worker(args.keras_worker, args.epochs, args.data_dir)

    path = RESULTS / "neural.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    keras_path = RESULTS / "keras_reference.json"
    keras = json.loads(keras_path.read_text())["results"] if keras_path.exists() else {}
    train, test = load_split() if {"accuracy", "tuned"} & set(args.parts) else (None, None)
    if "accuracy" in args.parts:
        results["accuracy"] = part_accuracy(train, test, keras, args.only, results.get("accuracy"))
    if "tuned" in args.parts:
        results["tuned"] = part_tuned(train, test)
    if "speed" in args.parts:
        results["speed"] = part_speed(args.keras_python, args.epochs, args.rounds, args.only,
                                      results.get("speed"), None if args.baseline == "none" else args.baseline)
    latest = json.loads(path.read_text()) if path.exists() else {}  # another run may have written
    for part in ("accuracy", "tuned", "speed"):
        if part in args.parts:
            merged = part in ("accuracy", "speed")
            latest[part] = {**latest.get(part, {}), **results[part]} if merged else results[part]
    latest["environment"] = environment()
    write_results("neural", latest, markdown(latest))


if __name__ == "__main__":
    sys.exit(main())
