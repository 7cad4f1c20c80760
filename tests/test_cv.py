"""Cross-validation: the Python API and `mfcore cv` (canonical ML-100k folds, seeded k-fold, errors)."""
import json

import numpy as np
import pytest
from helpers import data_dir

from mfcore import Biases, BiasedMF
from mfcore.cli import main
from mfcore.model_selection import cross_validate, fresh_copy, kfold_folds, parse_folds

ML100K = data_dir() / "ml-100k" if data_dir() else None
needs_ml100k = pytest.mark.skipif(ML100K is None or not (ML100K / "u1.base").exists(),
                                  reason="ML-100k not found: set MFCORE_DATA_DIR (.ci/run does)")


@pytest.fixture
def ratings_file(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(u, i, int(rng.integers(1, 6))) for u in range(1, 41) for i in range(1, 31) if rng.random() < 0.5]
    path = tmp_path / "ratings.csv"
    path.write_text("".join(f"{u},{i},{r}\n" for u, i, r in rows))
    return path, len(rows)


@pytest.mark.parametrize("spec, expected", [
    ("u1-u5", ("u1", "u2", "u3", "u4", "u5")), ("u2-u3", ("u2", "u3")), ("u1,u3", ("u1", "u3")),
    ("ua,ub", ("ua", "ub")), ("5", 5), (10, 10), (" U1 ", ("u1",)),
])
def test_fold_specs(spec, expected):
    assert parse_folds(spec) == expected


@pytest.mark.parametrize("spec", ["u6", "u1-u7", "u3-u1", "u1,u1", "1", "0", "fold1", "", "u1-ua"])
def test_bad_fold_specs_say_what_is_accepted(spec):
    with pytest.raises(ValueError, match="folds"):
        parse_folds(spec)


def test_kfold_tests_every_rating_once_and_reports_mean_and_spread(ratings_file):
    from mfcore.data import read_ratings

    ratings = read_ratings(ratings_file[0])
    res = cross_validate(Biases(), kfold_folds(ratings, 4, rng=1))
    assert [r["fold"] for r in res["folds"]] == ["fold1", "fold2", "fold3", "fold4"]
    assert sum(r["n_test"] for r in res["folds"]) == len(ratings)
    rmses = [r["rmse"] for r in res["folds"]]
    assert res["rmse_mean"] == pytest.approx(np.mean(rmses))
    assert res["rmse_std"] == pytest.approx(np.std(rmses, ddof=1))
    assert res["rmse_std"] > 0


def test_each_fold_gets_a_fresh_unfitted_copy():
    model = BiasedMF(n_factors=3, rng=7)
    copy = fresh_copy(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert not hasattr(copy, "global_mean_")


def test_cv_command_seeded_kfold_json(ratings_file, tmp_path, capsys):
    path, n = ratings_file
    out = tmp_path / "cv.json"
    assert main(["cv", "biases", "--data", str(path), "--folds", "3", "--seed", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fold1" in text and "mean" in text and "+-" in text
    rec = json.loads(out.read_text())
    assert rec["model"] == "biases" and rec["folds_spec"] == "3" and len(rec["folds"]) == 3
    assert sum(f["n_test"] for f in rec["folds"]) == n
    for key in ("rmse_mean", "rmse_std", "mae_mean", "mae_std", "fit_seconds", "params"):
        assert key in rec, key
    again = tmp_path / "again.json"
    assert main(["cv", "biases", "--data", str(path), "--folds", "3", "--seed", "1", "--json", str(again)]) == 0
    assert json.loads(again.read_text())["rmse_mean"] == rec["rmse_mean"]  # seeded


def test_cv_command_passes_model_flags(ratings_file, tmp_path):
    out = tmp_path / "cv.json"
    assert main(["cv", "biased-mf", "--data", str(ratings_file[0]), "--folds", "2", "--factors", "2",
                 "--epochs", "3", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["params"]["n_factors"] == 2 and rec["params"]["n_epochs"] == 3


@pytest.mark.parametrize("argv, message", [
    (["--folds", "u9"], "not understood"),
    (["--folds", "u1-u5"], "use it with --data ml-100k"),
    (["--folds", "1"], "at least 2 folds"),
    (["--folds", "5000"], "needs at least 5000 ratings"),
    (["--param", "n_epochs=0"], "fold fold1"),
])
def test_cv_command_bad_input_is_one_line(ratings_file, capsys, argv, message):
    code = main(["cv", "biases", "--data", str(ratings_file[0]), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cv_command_unknown_model(ratings_file, capsys):
    assert main(["cv", "no-such-model", "--data", str(ratings_file[0])]) == 2
    assert "unknown model" in capsys.readouterr().err


@needs_ml100k
def test_cv_command_canonical_folds(tmp_path, capsys):
    out = tmp_path / "cv.json"
    assert main(["cv", "biases", "--data", "ml-100k", "--folds", "u1-u5", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert [f["fold"] for f in rec["folds"]] == ["u1", "u2", "u3", "u4", "u5"]
    assert all(f["n_train"] == 80000 and f["n_test"] == 20000 for f in rec["folds"])
    assert 0.9 < rec["rmse_mean"] < 1.0 and rec["rmse_std"] > 0  # biases: about 0.94 on ML-100k
    assert rec["data"] == "ml-100k"


def test_an_implicit_model_is_scored_by_ranking(ratings_file, tmp_path, capsys):
    out = tmp_path / "cv.json"
    assert main(["cv", "implicit-als", "--data", str(ratings_file[0]), "--folds", "2",
                 "--param", "n_factors=3", "--param", "n_epochs=2", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert 0 <= rec["ndcg@10_mean"] <= 1 and "ndcg@10" in rec["folds"][0]
    assert "rank by these" in capsys.readouterr().out
    train_json = tmp_path / "train.json"
    assert main(["train", "implicit-als", "--data", str(ratings_file[0]), "--param", "n_factors=3",
                 "--param", "n_epochs=2", "--json", str(train_json), "--quiet"]) == 0
    rec = json.loads(train_json.read_text())
    assert set(rec["ranking"]) == {"precision@10", "recall@10", "ndcg@10", "map@10"}
    assert "means nothing" in capsys.readouterr().out


def test_the_tour_shows_implicit_models_in_a_ranking_table(tmp_path, capsys):
    assert main(["tour", "--fast", "--out", str(tmp_path / "out"), "--models", "biases", "implicit-als"]) == 0
    out = capsys.readouterr().out
    assert "ranking model" in out and "NDCG@10" in out
    table = out[out.index("model             notebook"):out.index("ranking model")]
    assert "implicit-als" not in table  # not ranked by RMSE
