"""Run every tutorial in its fast mode and check what it computed.

Each tutorial runs with ``runpy.run_path`` under ``MFCORE_FAST=1`` and
``MPLBACKEND=Agg``, in a temporary working directory, with ML-100k read from
``$MFCORE_DATA_DIR`` (the ``ml100k_dir`` fixture fails when the variable is set
and the data is missing, and skips otherwise). The returned namespace is then
checked: a tutorial that runs but shows wrong numbers fails here.

Bands come from measured fast-mode runs (numbers in the comments); fast mode
trains only 2 epochs, so they are wider than full-run bands.
"""
import re
from pathlib import Path

import numpy as np
import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"

pytestmark = pytest.mark.slow


RAW_RST = (":math:`", ".. math::", "``", ":class:`", ":func:`", ":mod:`", ":meth:`", ":data:`")


@pytest.fixture
def run_tutorial(monkeypatch, tmp_path, capsys):
    """A function that runs tutorials/<name>.py and returns its namespace (its printed output
    under ``"_stdout"``), after checking that it printed no raw reStructuredText."""
    monkeypatch.setenv("MFCORE_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # figures land in tmp_path/mfcore-output/tutorials/NN
    import runpy

    def run(name, data_dir=None):
        if data_dir is not None:
            monkeypatch.setenv("MFCORE_DATA_DIR", str(data_dir))
        try:
            ns = runpy.run_path(str(TUTORIALS / f"{name}.py"), run_name="__main__")
        finally:
            import matplotlib.pyplot as plt

            plt.close("all")
        out = capsys.readouterr().out
        assert not [m for m in RAW_RST if m in out], f"{name} printed raw reStructuredText"
        assert Path(ns["FIG_DIR"]) == Path("mfcore-output", "tutorials", name[:2])
        assert out.count("figures of this tutorial go to") == 1
        ns["_stdout"] = out
        return ns

    return run


def _figures(ns):
    return sorted(p.name for p in Path(ns["FIG_DIR"]).glob("*.png"))


def test_00_data_and_notation(run_tutorial, ml100k_dir):
    ns = run_tutorial("00_data_and_notation", ml100k_dir.parent)
    assert ns["DATASET"] == "ml-100k"
    # the observed-mask keeps the rating of 0 that R != 0 loses
    assert ns["mask"].nnz == 5 and int((ns["R"].toarray() != 0).sum()) == 4
    assert (ns["summary"]["n_ratings"], ns["summary"]["n_users"], ns["summary"]["n_items"]) == \
        (100_000, 943, 1_682)
    assert ns["same"] is True  # random_split(rng=42) == default_rng(42).permutation by hand
    assert ns["report"]["n_test_unknown_item"] == 34 and ns["report"]["n_test_unknown_user"] == 0
    assert ns["u1_report"]["n_test"] == 20_000 and ns["u1_report"]["n_test_unknown_user"] == 0
    assert _figures(ns) == ["exploration.png"]


def test_00_falls_back_to_the_bundled_data(run_tutorial, tmp_path, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("MFCORE_CACHE", str(empty))  # no download cache either
    ns = run_tutorial("00_data_and_notation", empty)
    assert ns["DATASET"] == "ml-latest-small" and ns["u1_report"] is None
    assert len(ns["ratings"]) == 100_004
    assert "ML-100k was not found" in ns["_stdout"]


def test_01_baselines(run_tutorial, ml100k_dir):
    ns = run_tutorial("01_baselines", ml100k_dir.parent)
    res = ns["results"]
    # measured: mean 1.1331, biases 0.9514, svd 0.9325, user-knn 1.1990 (benchmarks/results)
    assert res.loc["mean", "RMSE"] == pytest.approx(1.1331, abs=1e-4)
    assert res.loc["biases", "RMSE"] == pytest.approx(0.9514, abs=2e-3)
    assert res.loc["svd", "RMSE"] == pytest.approx(0.9325, abs=5e-3)
    # the puzzle the tutorial explains: k-NN worse than the mean in RMSE, best in NDCG
    assert res.loc["user-knn", "RMSE"] > res.loc["mean", "RMSE"]
    assert res["ndcg@10"].idxmax() == "user-knn"
    assert np.percentile(ns["knn"].neighbor_sims_, 1) > 0.95
    assert (res["RMSE"] <= res["RMSE unclipped"] + 1e-12).all()  # clipping never hurts
    assert _figures(ns) == ["rmse_vs_ndcg.png"]


def test_02_mf_intuition_toy(run_tutorial):
    ns = run_tutorial("02_mf_intuition_toy")
    # both seed algorithms reproduced to every printed digit (the notebook's printed matrices)
    assert ns["sgd_matches"] and ns["vec_matches"]
    assert np.array_equal(np.round(ns["pred_sgd"], 8), ns["PUBLISHED_SGD"])
    assert np.array_equal(np.round(ns["pred_vec"], 8), ns["PUBLISHED_VECTORIZED"])
    assert ns["diff"].max() > 1e-3  # and they are different algorithms
    # FunkMF with lr doubled and reg halved lands next to algorithm A (measured: 0.0025)
    assert np.abs(ns["pred_funk"] - ns["pred_sgd"])[ns["observed"]].max() < 0.02
    assert len(ns["te0"]) == 3 and ns["n_trios"] == 364 and ns["orphaning"] == 29
    assert _figures(ns) == ["toy_convergence.png", "toy_matrices.png", "toy_splits.png"]


def test_03_engines(run_tutorial, ml100k_dir):
    ns = run_tutorial("03_engines_loop_vectorized_jit", ml100k_dir.parent)
    assert ns["loop_jit_identical"] is True
    assert ns["loop_vec_max_diff"] < 1e-12  # measured 5.6e-17
    assert ns["scatter_ok"] is True
    assert np.array_equal(ns["P_fancy"][0], [3.0, 3.0]) and np.array_equal(ns["P_addat"][0], [6.0, 6.0])
    # every engine was timed (a rate in ratings/s); how much faster jit is than the loop is
    # measured by benchmarks/bench_engines.py (results/engines.md), not asserted here
    live = ns["live"]
    assert list(live) == ["loop", "vectorized (B=1024)", "jit"]
    assert all(np.isfinite(rate) and rate > 0 for rate in live.values())
    assert all(0.9 < r < 1.0 for r in ns["final"].values())  # measured 0.9665-0.9667 after 2 epochs
    assert _figures(ns) == ["batch_size_curves.png", "engine_speed.png"]
    # the worked example of a checked exercise names the slip
    assert ns["first_attempt"].code == "updated-pu" and "diagnosis [updated-pu]" in ns["_stdout"]


def test_04_biased_mf_vs_keras(run_tutorial, ml100k_dir):
    ns = run_tutorial("04_biased_mf_vs_keras", ml100k_dir.parent)
    assert ns["keras_run"] is not None and ns["keras_final"] == pytest.approx(0.9322, abs=1e-4)
    ours, keras = ns["ours_curve"], ns["keras_curve"]
    assert len(ours) == 2
    # the Keras regime follows the Keras curve epoch by epoch (measured: 0.9766/0.9617 vs 0.9762/0.9621)
    np.testing.assert_allclose(ours, keras[:2], atol=0.005)
    assert ns["res_tuned"]["rmse"] == pytest.approx(0.9667, abs=0.01)  # 2 epochs in fast mode
    assert len(ns["samples"]) == 10 and ns["samples"]["tuned BiasedMF"].between(1, 5).all()
    top = ns["top"]
    assert len(top) == 10 and top["title"].map(len).gt(0).all()
    assert not set(top["item"]) & set(ns["train"].item_map.to_raw(ns["train"].items[ns["mine"]]))
    assert _figures(ns) == ["keras_regime_curves.png", "tuned_vs_keras.png"]


def test_05_backprop_by_hand(run_tutorial):
    ns = run_tutorial("05_backprop_by_hand")
    # every hand-written backward agrees with central differences (measured: 3e-9, 1e-11, 6e-11, 1e-8)
    assert all(err < 1e-6 for err in ns["max_rel_errors"].values()), ns["max_rel_errors"]
    assert ns["wrong_check"].max_rel > 0.1  # and a wrong gradient is caught (measured 1.4)
    assert ns["kink_check"].max_rel > 0.1  # a ReLU input within eps of 0 fools the check (measured 0.35)
    sweep = ns["sweep"]
    assert np.nanmin(sweep["central, float64"]) < 1e-9 < np.nanmin(sweep["central, float32"])
    assert ns["scatter_ok"] and ns["fancy_wrong"]  # add.at sums repeated ids, G[ids] += d does not
    assert ns["sgd_match"] and ns["ghost_row_moved"]  # SGD momentum by hand == mfcore; row 4 keeps moving
    assert ns["moved"][1] == pytest.approx(0.9 * ns["moved"][0], rel=1e-12)
    assert _figures(ns) == ["finite_difference_error.png"]


def test_08_autorec(run_tutorial, ml100k_dir):
    ns = run_tutorial("08_autorec", ml100k_dir.parent)
    assert ns["masked_invariant"] and ns["plain_changes"]  # an unobserved entry changes nothing
    assert ns["autorec_check"].max_rel < 1e-6  # whole-model gradient check (measured 7e-8)
    # fast mode: 2 x 3 L-BFGS iterations (measured 1.1203), 2 deep epochs (1.1250, 1.1231)
    assert ns["res_i"]["rmse"] == pytest.approx(1.1203, abs=0.03)
    np.testing.assert_allclose(ns["ours_deep"], ns["keras_deep_curve"][:2], atol=0.01)
    table = ns["table"].set_index("model")
    assert table.loc["i-autorec", "mfcore (full run)"] == pytest.approx(0.8978, abs=1e-4)
    assert table.loc["deep-autorec", "mfcore (full run)"] == pytest.approx(0.9874, abs=1e-4)
    assert table.loc["i-autorec", "Keras best @ epoch / final"] == "0.9061 @ 30 / 0.9061"
    assert _figures(ns) == ["autorec_curves.png", "deep_autorec_vs_keras.png"]


def test_09_rbm(run_tutorial, ml100k_dir):
    ns = run_tutorial("09_rbm", ml100k_dir.parent)
    # free energy and conditionals equal brute-force enumeration (measured 4e-16)
    assert max(ns["checks"].values()) < 1e-12 and ns["fe_softmax_diff"] < 1e-12
    np.testing.assert_allclose(ns["p_item0_formula"], ns["p_item0_brute"], atol=1e-12)
    assert ns["cd_hand_diff"] < 1e-12 and ns["cd_jit_diff"] < 1e-12  # CD-1 by hand == both kernels
    assert ns["cd_cosine"]["CD-1"] > 0.9 and ns["cd_cosine"]["CD-5"] > ns["cd_cosine"]["CD-1"]
    assert ns["expected_matches"]  # expected rating by hand == model.predict
    assert ns["bias_grows"] and ns["recon"].min() > 0.95  # raw 1-5 ratings in binary units saturate
    # fast mode, 3 epochs (measured: softmax 0.9537, Bernoulli 1.0333; mean 1.1331)
    assert ns["res_soft"]["rmse"] == pytest.approx(0.9537, abs=0.01)
    assert ns["res_bern"]["rmse"] == pytest.approx(1.0333, abs=0.03)
    assert ns["p_bern"].min() >= 1.0 and ns["p_bern"].max() <= 5.0 and ns["p_bern"].std() > 0.1
    table = ns["table"].set_index("model")
    assert table.loc["rbm", "mfcore (full run)"] == pytest.approx(0.9156, abs=1e-4)  # item-based, shared W
    assert table.loc["rbm user-based", "mfcore (full run)"] == pytest.approx(0.9373, abs=1e-4)
    assert table.loc["rbm user-based", "mfcore (full run)"] < table.loc["biases", "mfcore (full run)"]
    assert _figures(ns) == ["rbm_curves.png"]


def test_tutorials_are_plain_percent_scripts():
    """Every tutorial is a jupytext percent script, with no notebook committed beside it."""
    names = sorted(p.name for p in TUTORIALS.iterdir() if not p.name.startswith((".", "__")))
    assert not [n for n in names if n.endswith(".ipynb")]
    for path in TUTORIALS.glob("[0-9][0-9]_*.py"):
        text = path.read_text(encoding="utf-8")
        assert "# %% [markdown]" in text and "\n# %%\n" in text, path.name
        assert "## Summary" in text and "## Exercises" in text, path.name
        assert not re.search(r"^\s*class \w", text, re.M), f"{path.name} defines a class"


def _one_blas_thread():
    """Tutorials 06 and 07 ask for one OpenBLAS thread before importing NumPy; under pytest
    NumPy is already loaded, so limit the running pools instead (if threadpoolctl is there)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - only slower
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def test_06_residual_mf_vs_keras(run_tutorial, ml100k_dir):
    with _one_blas_thread():
        ns = run_tutorial("06_residual_mf_vs_keras", ml100k_dir.parent)
    assert list(ns["VARIANTS"]) == ["K15-512"]  # fast mode trains the first seed variant only
    ours, ref = ns["ours"]["K15-512"], ns["keras"]["K15-512"]
    assert len(ours) == ns["N_EPOCHS"] == 2 and np.isfinite(ours).all()
    # the Keras curve is the one measured on this data, split and seed, for this variant
    assert (ref["model"], ref["variant"], ref["dataset"], ref["split"], ref["seed"]) == \
        ("residual-mf", "default", "ml-100k", "random:0.2", 42)
    assert (ref["settings"]["K"], ref["settings"]["units"]) == (15, 512) and len(ref["val_rmse_clipped"]) == 15
    # measured: mfcore 0.9753, 0.9528 against Keras 0.9589, 0.9605 (different random numbers)
    np.testing.assert_allclose(ours, ref["val_rmse_clipped"][:2], atol=0.03)
    # the two gradient paths, computed by hand, add up to the network's backward (measured 3e-18)
    for report in (ns["report_init"], ns["report_trained"]):
        assert report["max |backward - (dot + side)|"] < 1e-12
    assert ns["report_init"]["median |side| / |dot| per row"] > 1.5  # measured 2.27: the side path dominates
    assert ns["terms_ok"]  # mu + biases + dot + side branch == predict
    assert ns["side_params"] == 30 * 512 + 512 + 512 + 1 and ns["table_params"] == (943 + 1682) * 16
    table = ns["table"]
    for model in ("residual K15-512", "biased MF (Keras regime)"):
        assert set(table.loc[table["model"] == model, "implementation"]) == {"mfcore", "Keras"}
    assert table.loc[table["model"] == "biases (ALS)", "final"].item() == pytest.approx(0.9514, abs=2e-3)
    # 2 epochs each (measured: residual 0.9528, biased MF 0.9617)
    assert ns["ours_biased"][-1] == pytest.approx(0.9617, abs=0.01)
    assert ns["largest_gap"] < 0.1
    assert _figures(ns) == ["residual_vs_keras.png", "side_branch_gain.png"]


def test_07_deep_and_rncf(run_tutorial, ml100k_dir):
    with _one_blas_thread():
        ns = run_tutorial("07_deep_and_rncf", ml100k_dir.parent)
    mu = ns["mu"]
    # batch normalisation's moving mean after one epoch of 79 batches: 1 - 0.99**79 of the way
    assert ns["batches_per_epoch"] == 79
    np.testing.assert_allclose(ns["bn"].moving_mean, (1 - 0.99 ** 79) * ns["center"], atol=0.05)
    assert abs(np.mean(ns["dropped"] == 0) - 0.5) < 0.01
    # deep model, 2 epochs (measured: 1.1103, 1.0840 against Keras 1.1316, 1.0918)
    ours, keras = ns["ours_deep"], ns["keras_deep_curve"]
    assert len(ours) == 2 and np.isfinite(ours).all() and len(keras) == 25
    assert ns["keras_deep"]["split"] == "random:0.2" and ns["keras_deep"]["seed"] == 42
    np.testing.assert_allclose(ours, keras[:2], atol=0.03)
    # batch statistics beat the lagging moving statistics early on (measured gaps 0.114, 0.123)
    assert (ns["modes"]["cost of the moving statistics"] > 0.05).all()
    assert ns["ours_plain"][-1] == pytest.approx(0.9619, abs=0.02)  # measured after 2 epochs
    # RNCF: both versions share stage 1; the targets rebuilt by hand are the models' targets
    assert ns["same_stage1"] and ns["targets_match"]
    corrected, notebook = ns["target_corrected"].mean(), ns["target_notebook"].mean()
    # measured 0.873 (stage 1's training MSE after 2 epochs) and 13.198 (= mu^2 12.454 + ...)
    assert corrected == pytest.approx(np.mean(ns["e_tr"] ** 2)) and 0.5 < corrected < 1.2
    assert abs(notebook - mu ** 2) < 1.5 and notebook / corrected > 10
    assert ns["decomposition"].sum() == pytest.approx(notebook, rel=1e-9)
    assert ns["corr"](ns["target_notebook"], ns["r_tr"]) > 0.7  # measured 0.838: the bug's target is the rating level
    for t in ("corrected", "notebook"):
        curve = ns["curves3"][t]
        assert len(curve) == 2 and np.isfinite(curve).all()
    rows = set(zip(ns["rncf_table"]["model"], ns["rncf_table"]["implementation"]))
    assert {("stage 1 alone (biased MF)", "mfcore"), ("RNCF stage 3, corrected target", "Keras"),
            ("RNCF stage 3, notebook target", "mfcore"), ("biases (ALS)", "mfcore")} <= rows
    # the sign-blind oracle helps, the signed one is exact (measured 0.9614 -> 0.8747 -> 0)
    oracle = ns["oracle"]
    assert oracle.iloc[2] < 1e-12 < oracle.iloc[1] < oracle.iloc[0]
    assert len(ns["collapse"]) == 6 and np.isfinite(ns["collapse"]["output std"]).all()
    assert _figures(ns) == ["deep_vs_keras.png", "rncf_curves.png"]


def test_10_performance_engineering(run_tutorial):
    ns = run_tutorial("10_performance_engineering")
    live = ns["live"]  # rates are measured live and never asserted (no timing in tests)
    assert list(live) == ["loop (a subsample)", *ns["ladder"]] and len(live) == 9
    assert all(np.isfinite(v) and v > 0 for v in live.values())
    assert set(ns["bounds"]) == {"rows from memory (random)", "rows from cache (random)",
                                 "records streamed"}
    data = ns["data"]
    assert ns["grid_g"] == ns["mf_blocks"].grid_size(data.n_users, data.n_items, 15, 4)
    schedule = ns["schedule"]  # a stratum pairs user ranges with item ranges one to one
    assert all(len(set(step % 4)) == 4 for step in schedule)
    assert all(len(set(col % 4)) == 4 for col in schedule.T)
    assert ns["same_bits"] is True
    assert _figures(ns) == ["ladder.png"]


def test_11_blending(run_tutorial, ml100k_dir):
    ns = run_tutorial("11_blending", ml100k_dir.parent)
    assert ns["DATASET"] == "ml-100k"
    single, blend_rmse = ns["single"], ns["blend_rmse"]
    assert blend_rmse < min(single.values())  # the blend beats its best member on u1
    assert ns["leaky"] <= ns["honest"]  # weights fitted on test can only look better there
    assert np.allclose(np.diag(ns["corr"]), 1.0) and ns["corr"].shape == (3, 3)
    assert _figures(ns) == ["blend_vs_bases.png"]


def test_12_neighbourhoods(run_tutorial, ml100k_dir):
    ns = run_tutorial("12_neighbourhoods", ml100k_dir.parent)
    scores, mean_rmse = ns["scores"], ns["mean_rmse"]
    assert scores["user-knn (notebook: imputed cosine)"] > mean_rmse  # imputation: worse than the mean
    for name in ("user-knn-baseline (residuals, shrunk Pearson)", "item-knn (residuals, shrunk Pearson)"):
        assert scores[name] < scores["biases (the baseline alone)"]
    assert ns["grid"][0.0, 10] > ns["grid"][100.0, 10]  # shrinkage helps
    assert _figures(ns) == ["shrinkage_and_k.png"]


def test_13_als_vs_sgd(run_tutorial, ml100k_dir):
    ns = run_tutorial("13_als_vs_sgd", ml100k_dir.parent)
    runs, same = ns["runs"], ns["same"]
    assert set(runs) == {"als", "biased-mf (SGD)"} and len(runs["als"]["rmse"]) == ns["ALS_EPOCHS"]
    assert same[0.12]["als"] < same[0.05]["als"]  # ALS reaches J's minimum: it needs the larger reg
    assert _figures(ns) == ["als_vs_sgd.png"]


def test_14_implicit_feedback(run_tutorial, ml100k_dir):
    ns = run_tutorial("14_implicit_feedback", ml100k_dir.parent)
    results, sampled = ns["results"], ns["sampled"]
    assert results["implicit-als"]["ndcg@10"] > results["popularity"]["ndcg@10"]
    full_ratio = results["implicit-als"]["ndcg@10"] / results["popularity"]["ndcg@10"]
    assert sampled["popularity"] > results["popularity"]["ndcg@10"]  # sampling inflates
    assert sampled["implicit-als"] / sampled["popularity"] < full_ratio  # and compresses the gap
