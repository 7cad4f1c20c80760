"""The command line: its JSON contract, its errors, and the tour."""
import json
import subprocess
import sys

import numpy as np
import pytest

from mfcore.cli import main


def _ratings_file(path, rows):
    path.write_text("".join(f"{u},{i},{r}\n" for u, i, r in rows))
    return path


@pytest.fixture
def two_files(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(u, i, float(rng.integers(1, 6))) for u in range(1, 31) for i in range(1, 21)
            if rng.random() < 0.5]
    rng.shuffle(rows)
    cut = int(0.8 * len(rows))
    train = _ratings_file(tmp_path / "train.csv", rows[:cut])
    test = _ratings_file(tmp_path / "test.csv", rows[cut:])
    return train, test, rows[:cut], rows[cut:]


def test_train_json_contract(tmp_path, two_files, capsys):
    train, test, train_rows, test_rows = two_files
    out = tmp_path / "run.json"
    code = main(["train", "biases", "--train", str(train), "--test", str(test), "--json", str(out),
                 "--param", "n_epochs=4"])
    assert code == 0
    rec = json.loads(out.read_text())
    for key in ("model", "data", "n_train", "n_test", "params", "history", "test_rmse", "test_mae",
                "test_rmse_unclipped", "test_mae_unclipped", "fit_seconds"):
        assert key in rec, key
    assert rec["model"] == "biases"
    assert rec["n_train"] == len(train_rows) and rec["n_test"] == len(test_rows)
    assert rec["params"]["n_epochs"] == 4
    assert [h["epoch"] for h in rec["history"]] == [1, 2, 3, 4]
    assert set(rec["history"][0]) >= {"epoch", "train_loss", "val_rmse", "test_rmse", "seconds"}
    assert rec["test_rmse"] <= rec["test_rmse_unclipped"] + 1e-12
    # no validation (biases does not stop early): val_rmse is empty, never the test set
    assert rec["history"][-1]["val_rmse"] is None and rec["n_valid"] == 0
    # the test monitor's last value is the unclipped test RMSE of the returned model
    assert rec["history"][-1]["test_rmse"] == pytest.approx(rec["test_rmse_unclipped"])
    assert rec["test_rmse_global_mean"] > 0
    printed = capsys.readouterr().out
    assert "epoch   4" in printed and "test RMSE" in printed


def test_train_early_stopping_validates_on_training_rows(tmp_path, two_files):
    train, test, train_rows, _ = two_files
    out = tmp_path / "run.json"
    assert main(["train", "biased-mf", "--train", str(train), "--test", str(test), "--json", str(out),
                 "--param", "early_stopping=true", "--param", "validation_fraction=0.25",
                 "--epochs", "30", "--quiet"]) == 0
    rec = json.loads(out.read_text())
    assert rec["n_valid"] == round(0.25 * len(train_rows)) and rec["n_fit"] + rec["n_valid"] == rec["n_train"]
    val = [h["val_rmse"] for h in rec["history"]]
    assert all(v is not None for v in val)
    assert rec["best_epoch"] == 1 + val.index(min(val))  # chosen on validation, not on test_rmse


def test_train_divergence_is_one_clear_line(tmp_path, two_files, capsys):
    train, test, _, _ = two_files
    code = main(["train", "biased-mf", "--train", str(train), "--test", str(test), "--lr", "20",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "diverged at epoch" in err and "lower lr" in err
    assert "Traceback" not in err


def test_train_save_evaluate_recommend(tmp_path, two_files, capsys):
    train, test, train_rows, _ = two_files
    model_path = tmp_path / "m.npz"
    assert main(["train", "biases", "--train", str(train), "--test", str(test), "--save",
                 str(model_path), "--quiet"]) == 0
    ev = tmp_path / "ev.json"
    assert main(["evaluate", str(model_path), "--test", str(test), "--json", str(ev)]) == 0
    tr = tmp_path / "tr.json"
    main(["train", "biases", "--train", str(train), "--test", str(test), "--json", str(tr), "--quiet"])
    assert json.loads(ev.read_text())["test_rmse"] == pytest.approx(json.loads(tr.read_text())["test_rmse"])
    rec = tmp_path / "rec.json"
    assert main(["recommend", str(model_path), "--user", "1", "-n", "3", "--json", str(rec)]) == 0
    recs = json.loads(rec.read_text())["recommendations"]
    assert len(recs) == 3
    rated = {i for u, i, _ in train_rows if u == 1}
    assert not rated & {int(r["item"]) for r in recs}


def test_split_and_seed_on_bundled_data(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path, seed in ((a, "1"), (b, "2")):
        assert main(["train", "mean", "--split", "random:0.2", "--seed", seed, "--json", str(path)]) == 0
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["n_train"] + ra["n_test"] == 100_004
    assert ra["n_test"] == round(0.2 * 100_004)
    assert ra["test_rmse"] != rb["test_rmse"]  # another seed, another split


@pytest.mark.parametrize("argv, message", [
    (["train", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    (["train", "biases", "--lr", "0.1"], "model 'biases' has no parameter 'lr' (--lr)"),
    (["train", "biases", "--data", "no-such-dataset"], "no-such-dataset"),
    (["train", "biases", "--train", "x.csv"], "--train and --test go together"),
    (["train", "biases", "--split", "banana"], "random:"),
    (["train", "biases", "--param", "reg_user=-1"], "'reg_user' parameter of Biases"),
    (["evaluate", "missing.npz", "--test", "x.csv"], "missing.npz"),
    (["train", "biases", "--seed", "-1"], "rng (the seed; --seed on the command line) must be an int >= 0"),
    (["train", "biases", "--split", "random:1"], "a fraction in (0, 1), written with a decimal point"),
    (["train", "biases", "--split", "kfold:0:0"], "k-fold needs N >= 2 folds"),
    (["train", "biases", "--split", "kfold:5:1.5"], "kfold:N:I takes two whole numbers"),
    (["train", "biases", "--split", "random:1.5"], "the test fraction F must be in (0, 1); got 1.5"),
    (["train", "biases", "--split", "user:0"], "K, the test ratings per user, must be a whole number >= 1"),
    (["train", "biases", "--split", "user:-5"], "must be a whole number >= 1; got -5"),
    (["train", "biases", "--train", "a.csv", "--test", "b.csv", "--split", "random:0.2"],
     "--train and --test are the split already: drop --split"),
    (["train", "biases", "--train", "a.csv", "--test", "b.csv", "--data", "ml-100k"], "drop --data"),
    (["train", "biases", "--data", ""], "--data is empty: give a dataset name"),
    (["cv", "biases", "--data", " "], "--data is empty"),
    (["tour", "--data", ""], "--data is empty"),
    (["train", "item-knn", "--param", "min_neighbors=50"], "'min_neighbors' parameter of ItemKNN must be an int >= 1 "
                                                           "and <= 40. Got 50"),
    (["train", "rbm", "--param", "cd_k=5", "--param", "cd_k_max=2"], "'cd_k_max' parameter of SoftmaxRBM must be an "
                                                                     "int >= 5. Got 2"),
    (["tutorials", "--execute"], "--execute and --fast run a notebook: name the tutorial"),
    (["exercises", "template", "t03", "-o", ""], "-o needs a file name"),
    (["train", "biased-mf", "--epochs", "1", "--param", "n_epochs=3"],
     "the parameter 'n_epochs' of 'biased-mf' is set twice (--epochs and --param n_epochs=3); give it once"),
    (["train", "biased-mf", "--param", "lr=0.1", "--param", "lr=0.2"], "'lr' of 'biased-mf' is set twice"),
    (["train", "i-autorec", "--param", "n_hidden=10", "--param", "hidden_units=20"],
     "'hidden_units' of 'i-autorec' is set twice (--param n_hidden=10 and --param hidden_units=20)"),
])
def test_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_output_paths_are_checked_before_any_work(tmp_path, two_files, capsys):
    train, test, _, _ = two_files
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("x")
    cases = [(["--json", str(tmp_path)], "--json: cannot write the JSON record to"),
             (["--json", str(tmp_path)], "it is a folder; pass a file path"),
             (["--save", str(a_file / "m.npz")], "is a file, not a folder"),
             (["--save", ""], "--save: the path to write the model to is empty")]
    for extra, message in cases:
        assert main(["train", "biases", "--train", str(train), "--test", str(test)] + extra) == 2
        out, err = capsys.readouterr()
        assert message in err and "Traceback" not in err
        assert "test RMSE" not in out  # it failed before training
    assert main(["tour", "--fast", "--models", "mean", "--out", str(a_file)]) == 2
    out, err = capsys.readouterr()
    assert "give a folder path" in err and "mean" not in out


def test_outputs_that_cannot_be_created_or_would_replace_an_input_fail_before_any_work(tmp_path, two_files,
                                                                                         capsys):
    """/proc passes the permission check but no file can be made there: found by creating one,
    before training, so --save is not left behind when --json then fails. An output that is an
    input (or the other output) is refused instead of replacing it."""
    train, test, _, _ = two_files
    before = train.read_bytes()
    model = tmp_path / "m.npz"
    cases = [(["--save", str(model), "--json", "/proc/run.json"], "--json: cannot write the JSON record to "
              "/proc/run.json: files cannot be created in the folder /proc"),
             (["--save", str(train)], f"--save {train}: this is the file given to --train, and writing --save "
              "would replace it"),
             (["--json", str(tmp_path / "x" / ".." / "test.csv")], "this is the file given to --test"),
             (["--save", str(model), "--json", str(model)], f"--json {model}: this is the file given to --save")]
    for extra, message in cases:
        assert main(["train", "biases", "--train", str(train), "--test", str(test)] + extra) == 2
        out, err = capsys.readouterr()
        assert message in err and "Traceback" not in err, err
        assert "test RMSE" not in out and not model.exists()
    assert train.read_bytes() == before
    assert main(["train", "biases", "--train", str(train), "--test", str(test), "--save", str(model)]) == 0
    assert main(["evaluate", str(model), "--test", str(test), "--json", str(model)]) == 2
    assert "this is the model file" in capsys.readouterr().err
    assert main(["tour", "--fast", "--models", "mean", "--out", "/proc/tour"]) == 2
    out, err = capsys.readouterr()
    assert "--out: cannot write the plots or notebooks to /proc/tour" in err and "mean" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "test.csv", "train.csv"]  # no probe left


def test_a_reader_that_stops_early_is_no_error():
    """`mfcore models | head -1`: the pipe closes; mfcore stops quietly (exit 141, as Unix tools do)."""
    proc = subprocess.Popen([sys.executable, "-m", "mfcore", "models", "--defaults"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""


def test_valid_commands_the_new_checks_must_not_refuse(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # a dataset name is not a file: --json may be called like it
    assert main(["tour", "--fast", "--models", "mean", "--out", "plots", "--json", "ml-latest-small"]) == 0
    assert (tmp_path / "ml-latest-small").is_file()
    # two old names that make one new parameter (deep-autorec's hidden_units = (n_hidden1, n_hidden2))
    assert main(["train", "deep-autorec", "--epochs", "1", "--quiet", "--param", "n_hidden1=8",
                 "--param", "n_hidden2=4"]) == 0
    assert main(["train", "deep-autorec", "--epochs", "1", "--quiet", "--param", "n_hidden1=8",
                 "--param", "hidden_units=[8,4]"]) == 2
    assert "set twice (--param n_hidden1=8 and --param hidden_units=[8,4])" in capsys.readouterr().err
    # listing the tutorials writes nothing, so a folder no file can be made in is fine
    monkeypatch.chdir("/proc")
    assert main(["tutorials"]) == 0


def test_a_split_that_tests_on_most_ratings_warns_and_a_missing_file_says_what_to_check(tmp_path, capsys):
    assert main(["train", "mean", "--split", "user:1000", "--quiet"]) == 0
    assert "mfcore train: warning: --split user:1000 puts 94% of the ratings in the test part" in \
        capsys.readouterr().err
    assert main(["train", "mean", "--split", "user:5", "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "none.npz"), "--test", "x.csv"]) == 2
    assert "none.npz: No such file or directory (check the spelling and the folders on the way" in \
        capsys.readouterr().err


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    import mfcore.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_models", interrupted)
    assert main(["models"]) == 130
    assert capsys.readouterr().err == "mfcore models: interrupted\n"


def test_an_os_error_is_one_line_naming_the_path(tmp_path, two_files, capsys):
    train, test, _, _ = two_files
    folder = tmp_path / "adir"
    folder.mkdir()
    assert main(["evaluate", str(folder), "--test", str(test)]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: Is a directory (it is a folder: give a file path)" in err and "Traceback" not in err


def test_a_model_too_large_for_memory_is_one_line(tmp_path, two_files, capsys):
    train, test, _, _ = two_files
    assert main(["train", "biased-mf", "--train", str(train), "--test", str(test),
                 "--factors", str(10 ** 12), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "not enough memory" in err and "fewer factors" in err and "Traceback" not in err


def test_evaluate_refuses_ratings_outside_the_models_scale_in_its_terms(tmp_path, two_files, capsys):
    train, test, _, _ = two_files
    model = tmp_path / "m.npz"
    assert main(["train", "biases", "--train", str(train), "--test", str(test), "--save", str(model)]) == 0
    capsys.readouterr()
    tenfold = _ratings_file(tmp_path / "tenfold.csv", [(1, 1, 40), (2, 2, 10)])
    assert main(["evaluate", str(model), "--test", str(tenfold)]) == 2
    err = capsys.readouterr().err
    assert f"{tenfold} holds ratings from 10 to 40, outside the scale 1..5 step 1 that {model} was trained on" in err
    assert "scale=None" not in err


def test_evaluate_refuses_a_file_whose_ids_the_model_never_saw(tmp_path, two_files, capsys):
    train, test, _, test_rows = two_files
    model_path = tmp_path / "m.npz"
    assert main(["train", "biases", "--train", str(train), "--test", str(test), "--save",
                 str(model_path), "--quiet"]) == 0
    other = _ratings_file(tmp_path / "other.csv", [(u + 1000, i + 1000, r) for u, i, r in test_rows])
    assert main(["evaluate", str(model_path), "--test", str(other)]) == 2
    assert "none of the" in capsys.readouterr().err
    # ids written as 7.0 or mixed with a text id are still the model's integer ids
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("".join(f"{u}.0,{i},{r}\n" for u, i, r in test_rows) + "abc,1,3\n")
    plain, js = tmp_path / "plain.json", tmp_path / "mixed.json"
    assert main(["evaluate", str(model_path), "--test", str(test), "--json", str(plain)]) == 0
    assert main(["evaluate", str(model_path), "--test", str(mixed), "--json", str(js)]) == 0
    assert json.loads(js.read_text())["n_test_unknown"] == json.loads(plain.read_text())["n_test_unknown"] + 1


def test_loading_another_file_as_model_fails_clearly(tmp_path, capsys):
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, x=np.zeros(2))
    assert main(["recommend", str(bogus), "--user", "1"]) == 2
    assert "not an mfcore model file" in capsys.readouterr().err


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "mfcore", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mfcore ")


def test_tour_fast_prints_table_and_writes_plots(tmp_path, capsys):
    out = tmp_path / "plots"
    js = tmp_path / "tour.json"
    assert main(["tour", "--fast", "--out", str(out), "--json", str(js), "--models", "mean", "biases"]) == 0
    text = capsys.readouterr().out
    assert "test RMSE" in text and "biases" in text
    rows = json.loads(js.read_text())["rows"]
    by = {r["model"]: r for r in rows}
    assert by["biases"]["test_rmse"] < by["mean"]["test_rmse"]
    assert (out / "rmse_by_model.png").stat().st_size > 1000
    assert (out / "rating_distribution.png").is_file()


def test_a_model_that_fails_on_the_data_is_listed_and_the_tour_goes_on(tmp_path, capsys):
    one_item = _ratings_file(tmp_path / "one_item.csv", [(u, 1, 1 + u % 5) for u in range(40)])  # svd: 2 items
    js = tmp_path / "tour.json"
    assert main(["tour", "--fast", "--out", str(tmp_path / "p"), "--data", str(one_item), "--json", str(js),
                 "--models", "mean", "svd", "biases"]) == 1
    out, err = capsys.readouterr()
    assert "svd               failed: TruncatedSVD needs at least 2 users and 2 items" in out
    assert "failed on this data: svd" in out and "Traceback" not in err
    record = json.loads(js.read_text())
    assert [r["model"] for r in record["rows"]] == ["mean", "biases"]
    assert record["failed"][0]["model"] == "svd" and "2 items" in record["failed"][0]["error"]
    assert main(["tour", "--fast", "--out", str(tmp_path / "p"), "--data", str(one_item), "--models", "svd"]) == 2
    assert "every model failed on one_item.csv" in capsys.readouterr().err


def test_datasets_lists_the_bundled_one_as_available(tmp_path, capsys):
    js = tmp_path / "ds.json"
    assert main(["datasets", "--json", str(js)]) == 0
    rows = {r["name"]: r for r in json.loads(js.read_text())}
    assert rows["ml-latest-small"]["available"] is True
    assert {"ml-100k", "ml-1m", "ml-25m", "netflix"} <= set(rows)
    assert "ml-latest-small" in capsys.readouterr().out


def test_reader_flags_reach_the_file_reader(tmp_path, capsys):
    rows = [(u, i, 1 + (u * i) % 5) for u in range(1, 11) for i in range(1, 9)]
    text = "".join(f"{u};{i};{r}\n" for u, i, r in rows) + "1;1;5\n"  # a repeated pair
    path = tmp_path / "semi.txt"
    path.write_text(text)
    assert main(["train", "mean", "--data", str(path), "--quiet"]) == 2
    assert "--duplicates last" in capsys.readouterr().err
    js = tmp_path / "r.json"
    assert main(["train", "mean", "--data", str(path), "--sep", ";", "--duplicates", "last",
                 "--quiet", "--json", str(js)]) == 0
    rec = json.loads(js.read_text())
    assert rec["n_train"] + rec["n_test"] == len(rows)  # the duplicate collapsed into one row
    assert main(["train", "mean", "--data", "ml-latest-small", "--sep", ","]) == 2
    assert "apply to ratings files" in capsys.readouterr().err


def test_header_and_encoding_flags_reach_the_file_reader(tmp_path, capsys):
    rows = [(u, i, 1 + (u * i) % 5) for u in range(1, 11) for i in range(1, 9)]
    path = tmp_path / "r.csv"
    path.write_bytes(("u,i,r\n" + "".join(f"{u},{i}\xe9,{r}\n" for u, i, r in rows)).encode("latin-1"))
    assert main(["train", "mean", "--data", str(path), "--quiet"]) == 2
    assert "(on the command line: --encoding latin-1)" in capsys.readouterr().err
    assert main(["train", "mean", "--data", str(path), "--quiet", "--encoding", "latin-1", "--header", "no"]) == 2
    assert "the rating 'r' is not a number" in capsys.readouterr().err  # the header read as data
    js = tmp_path / "r.json"
    assert main(["train", "mean", "--data", str(path), "--quiet", "--encoding", "latin-1", "--header", "yes",
                 "--json", str(js)]) == 0
    rec = json.loads(js.read_text())
    assert rec["n_train"] + rec["n_test"] == len(rows)
    assert main(["train", "mean", "--data", str(path), "--encoding", "banana"]) == 2
    assert "--encoding banana: not an encoding Python knows" in capsys.readouterr().err


def test_models_lists_every_model_with_its_defaults(tmp_path, capsys):
    from mfcore import model_names

    out = tmp_path / "models.json"
    assert main(["models", "--defaults", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == model_names()
    for r in rows:
        assert r["summary"] and f"{r['name']}  (" in printed
    assert "n_factors=100" in printed  # biased-mf's default K
    assert main(["models", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_evaluate_says_an_implicit_models_rmse_means_nothing(tmp_path, two_files, capsys):
    train, test, _, _ = two_files
    model_path = tmp_path / "pop.npz"
    assert main(["train", "popularity", "--train", str(train), "--test", str(test), "--save",
                 str(model_path), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model_path), "--test", str(test)]) == 0
    assert "implicit-feedback model: it ranks items and its RMSE means nothing" in capsys.readouterr().out
