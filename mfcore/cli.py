"""The ``mfcore`` command line.

    mfcore datasets
    mfcore models [NAME] [--defaults] [--json FILE]
    mfcore fetch NAME
    mfcore train MODEL [--data NAME|PATH] [--train PATH --test PATH | --split SPEC]
                       [--seed S] [--engine E] [--factors K] [--epochs N] [--lr LR]
                       [--reg REG] [--batch-size B] [--dtype D] [--param KEY=VALUE ...]
                       [--save FILE] [--json FILE]
    mfcore cv MODEL [--data NAME|PATH] [--folds 5|u1-u5|u1,u2,...] [model flags as train]
                    [--json FILE]
    mfcore evaluate FILE --test PATH [--json FILE]
    mfcore recommend FILE --user RAW_ID [-n 10] [--json FILE]
    mfcore tour [--data NAME|PATH] [--out DIR] [--fast] [--json FILE]

Errors in the input print one line and exit with code 2; set MFCORE_DEBUG=1
for the full traceback. The ``--json`` files are a contract that scripts and benchmarks rely on: fields
are only ever added, never renamed (see ``train_record``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

from . import __version__
from ._json import write_json

# CLI flag -> model parameter name. A flag is passed only to models that take it.
MODEL_FLAGS = {
    "engine": "engine",
    "factors": "n_factors",
    "epochs": "n_epochs",
    "lr": "lr",
    "reg": "reg",
    "batch_size": "batch_size",
    "dtype": "dtype",
}


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def _parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


# ------------------------------------------------------------------ data
def read_options(args):
    """Reader options (--sep, --duplicates) for ratings files given by path."""
    opts = {}
    if getattr(args, "sep", None):
        try:
            opts["sep"] = args.sep.encode().decode("unicode_escape")  # lets users type \t
        except UnicodeDecodeError:
            raise CLIError(f"--sep {args.sep}: not a separator mfcore can read (a stray backslash?); "
                           "e.g. ',' '\\t' '::'") from None
    if getattr(args, "duplicates", None):
        opts["duplicates"] = args.duplicates
    if getattr(args, "header", None):
        opts["header"] = args.header == "yes"
    if getattr(args, "encoding", None):
        import codecs

        try:
            opts["encoding"] = codecs.lookup(args.encoding).name
        except LookupError:
            raise CLIError(f"--encoding {args.encoding}: not an encoding Python knows; e.g. utf-8, "
                           "latin-1, cp1252") from None
    return opts


def _refuse_reader_flags(args, what):
    """The reader flags describe a ratings file: a CLIError when they come with ``what`` instead."""
    if args is not None and read_options(args):
        raise CLIError(f"--sep, --duplicates, --header and --encoding apply to ratings files, not to {what}")


def load_data(spec, args=None):
    """A dataset name or a path -> Ratings."""
    from .data.datasets import DATASETS, load_dataset

    if not str(spec).strip():
        raise CLIError("--data is empty: give a dataset name (mfcore datasets lists them) or a ratings file")
    if spec in DATASETS or os.path.isdir(spec):
        _refuse_reader_flags(args, f"the dataset {spec!r}")
    return load_dataset(spec, **(read_options(args) if args is not None else {}))


DEFAULT_DATA = "ml-latest-small"  # bundled: no download


def make_split(args):
    """``(train, test, data_name, split_name)`` from --data/--split or --train/--test."""
    from .data.split import predefined_split, split_from_spec

    if args.train or args.test:
        if not (args.train and args.test):
            raise CLIError("--train and --test go together: give both files, or use --split")
        given = [f"--{flag}" for flag in ("data", "split") if getattr(args, flag) is not None]
        if given:
            raise CLIError(f"--train and --test are the split already: drop {' and '.join(given)}")
        tt = predefined_split(args.train, args.test, **read_options(args))
        return tt.train, tt.test, f"{args.train} + {args.test}", "files"
    split, data = args.split or "random:0.2", DEFAULT_DATA if args.data is None else args.data
    if split in ("u1", "u2", "u3", "u4", "u5", "ua", "ub"):
        from .data.datasets import find_dataset
        from .data.movielens import load_ml100k_split

        if data not in ("ml-100k",) and not (data.strip() and os.path.isdir(data)):
            raise CLIError(f"--split {split} is one of ML-100k's canonical splits; use it with --data ml-100k")
        _refuse_reader_flags(args, f"ML-100k's split {split}")
        folder = data if os.path.isdir(data) else find_dataset("ml-100k")
        if folder is None:
            raise CLIError("ML-100k was not found; run `mfcore fetch ml-100k` or set MFCORE_DATA_DIR")
        train, test = load_ml100k_split(folder, split)
        return train, test, "ml-100k", split
    ratings = load_data(data, args)
    tt = split_from_spec(ratings, split, rng=args.seed)
    if len(tt.test) > len(tt.train):
        warnings.warn(f"--split {split} puts {len(tt.test) / len(ratings):.0%} of the ratings in the test part "
                      "and trains on the rest; a smaller K or F (e.g. user:5, user:0.2) keeps most for training",
                      UserWarning, stacklevel=2)
    return tt.train, tt.test, ratings.name, split


def build_model(name, args):
    """Instantiate ``name`` with the flags it accepts; a flag it does not take is an error."""
    from .models.registry import get_model_class

    try:
        cls = get_model_class(name)
    except KeyError as exc:
        raise CLIError(str(exc.args[0])) from None
    accepted = cls._param_names()
    aliases = cls._aliases()
    params, given_as = {}, {}  # name as given -> how the command line set it (each at most once)

    def set_once(pname, value, how):
        # the same name twice, or an old name and its new one (two old names may be two parts of
        # one new parameter: deep-autorec's n_hidden1 and n_hidden2 make hidden_units)
        clash = next((given_as[p] for p in given_as if p == pname or aliases.get(p) == pname
                      or aliases.get(pname) == p), None)
        if clash is not None:
            raise CLIError(f"the parameter {aliases.get(pname, pname)!r} of {name!r} is set twice ({clash} and "
                           f"{how}); give it once")
        given_as[pname], params[pname] = how, value
    for flag, pname in MODEL_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if pname not in accepted:
            raise CLIError(f"model {name!r} has no parameter {pname!r} (--{flag.replace('_', '-')}); "
                           f"its parameters are: {', '.join(accepted) or 'none'}")
        set_once(pname, value, f"--{flag.replace('_', '-')}")
    for item in getattr(args, "param", None) or []:
        if "=" not in item:
            raise CLIError(f"--param takes KEY=VALUE; got {item!r}")
        key, value = item.split("=", 1)
        if key in aliases:  # an old name: the model takes it and warns; say it here in one line
            print(f"mfcore: note: the parameter {key!r} of {name!r} is now called {aliases[key]!r}",
                  file=sys.stderr)
        elif key not in accepted:
            raise CLIError(f"model {name!r} has no parameter {key!r}; its parameters are: "
                           f"{', '.join(accepted) or 'none'}")
        set_once(key, _parse_value(value), f"--param {item}")
    if "rng" in accepted and "rng" not in params:
        params["rng"] = args.seed
    if "verbose" in accepted and "verbose" not in params:
        params["verbose"] = 0 if getattr(args, "quiet", False) else 1
    if isinstance(params.get("hidden_units"), list):  # JSON has no tuples
        params["hidden_units"] = tuple(params["hidden_units"])
    with warnings.catch_warnings():  # a renamed parameter's FutureWarning: the note above said it
        warnings.simplefilter("ignore", FutureWarning)
        return cls(**params)


def plain_params(model):
    """The model's parameters as JSON values (anything else as its str)."""
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
            for k, v in model.get_params().items()}


def train_record(model, name, data_name, split, train, test, fit_seconds, seed):
    """The ``--json`` record of ``mfcore train`` (fields are only ever added).

    ``history[].val_rmse`` is the validation RMSE (ratings carved from the
    training set, never the test set; None when the model had no validation),
    ``history[].test_rmse`` the test monitor (recorded, never used); the final
    ``test_rmse`` scores the fitted model once.
    """
    rep = model.evaluate(test)
    hist = model.history_
    history = []
    if hist is not None:
        for row in hist.to_records():
            history.append({"epoch": row["epoch"], "train_loss": row.get("train_loss"),
                            "val_rmse": row.get("val_rmse"), "test_rmse": row.get("test_rmse"),
                            "seconds": row.get("seconds"),
                            **{k: v for k, v in row.items()
                               if k not in ("epoch", "train_loss", "val_rmse", "test_rmse", "seconds")}})
    params = plain_params(model)
    mean_rmse = float(np.sqrt(np.mean((test.values - train.global_mean) ** 2)))
    return {
        "model": name,
        "data": data_name,
        "split": split,
        "seed": seed,
        "n_train": len(train),
        "n_test": len(test),
        "n_users": train.n_users,
        "n_items": train.n_items,
        "params": params,
        "history": history,
        "test_rmse": rep["rmse"],
        "test_mae": rep["mae"],
        "test_rmse_unclipped": rep["rmse_unclipped"],
        "test_mae_unclipped": rep["mae_unclipped"],
        "n_test_unknown": rep["n_unknown"],
        "fit_seconds": fit_seconds,
        "compile_seconds": hist.compile_seconds if hist is not None else 0.0,
        "best_epoch": hist.best("val_rmse")[0] if hist is not None and "val_rmse" in hist else None,
        "scale": [train.scale.low, train.scale.high, train.scale.step],
        "mfcore_version": __version__,
        "n_valid": int(getattr(model, "n_valid_", 0)),
        "n_fit": len(train) - int(getattr(model, "n_valid_", 0)),
        "stopped_epoch": hist.stopped_epoch if hist is not None else None,
        "restored_epoch": hist.best_epoch if hist is not None else None,
        "diverged": hist.diverged if hist is not None else None,
        "test_rmse_global_mean": mean_rmse,
    }


# -------------------------------------------------------------- commands
def cmd_datasets(args):
    from .data.datasets import DATASETS, find_dataset
    from .data.download import ARCHIVES

    rows = []
    for name, info in DATASETS.items():
        where = find_dataset(name)
        rows.append({"name": name, "available": where is not None, "path": str(where) if where else None,
                     "description": info.description, "licence": info.licence})
    if args.json:
        write_json(args.json, rows)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        status = (f"here: {r['path']}" if r["available"] else f"not here (mfcore fetch {r['name']})"
                  if r["name"] in ARCHIVES else "not here (no download: see its description, or the README)")
        print(f"{r['name']:<{width}}  {r['description']}\n{'':<{width}}  {status}")
    return 0


def cmd_fetch(args):
    from .data.download import fetch

    path = fetch(args.name, cache_dir=args.cache_dir, force=args.force, verify=not args.no_verify)
    print(f"{args.name}: {path}")
    return 0


def cmd_train(args):
    train, test, data_name, split = make_split(args)
    model = build_model(args.model, args)
    print(f"{args.model} on {data_name} ({split}): {len(train):,} train / {len(test):,} test ratings, "
          f"{train.n_users:,} users x {train.n_items:,} items")
    t0 = time.perf_counter()
    model.fit(train, monitor=test)  # the test curve is recorded, never used to train
    fit_seconds = time.perf_counter() - t0
    record = train_record(model, args.model, data_name, split, train, test, fit_seconds, args.seed)
    if model.implicit:  # a ranking model: report how it ranks, not how it rates
        from .model_selection import ranking_metrics

        record["ranking"] = ranking_metrics(model, test)
        print("test ranking (a test rating >= 4 is relevant; training items excluded): " +
              ", ".join(f"{k} {v:.4f}" for k, v in record["ranking"].items()) +
              f"  fit {fit_seconds:.2f}s. (An implicit-feedback model ranks items; its RMSE below "
              "means nothing.)")
    print(f"test RMSE {record['test_rmse']:.4f}  MAE {record['test_mae']:.4f} (clipped to "
          f"{train.scale}; unclipped RMSE {record['test_rmse_unclipped']:.4f})  "
          f"fit {fit_seconds:.2f}s" + (f", compile {record['compile_seconds']:.2f}s"
                                        if record["compile_seconds"] else ""))
    if record["n_valid"]:
        print(f"validation: {record['n_valid']:,} ratings carved from the training set "
              f"(early stopping; best epoch {record['best_epoch']})")
    if record["test_rmse_unclipped"] > record["test_rmse_global_mean"]:
        print(f"note: its predictions before clipping (RMSE {record['test_rmse_unclipped']:.4f}) are worse "
              f"than predicting the global mean (test RMSE {record['test_rmse_global_mean']:.4f}); see "
              "`mfcore models` and the model's docstring")
    if record["n_test_unknown"]:
        print(f"{record['n_test_unknown']} test ratings had a user or item with no training rating "
              "(predicted by the fallback)")
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}")
    if args.json:
        write_json(args.json, record)
    return 0


def cmd_cv(args):
    from .model_selection import cross_validate, kfold_folds, ml100k_folds, parse_folds

    try:
        spec = parse_folds(args.folds)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    args.quiet = not args.verbose
    model = build_model(args.model, args)
    if isinstance(spec, tuple):
        from .data.datasets import find_dataset

        if args.data != "ml-100k" and not os.path.isdir(args.data):
            raise CLIError(f"--folds {args.folds} names ML-100k's canonical folds; use it with "
                           "--data ml-100k (or an ml-100k folder), or give a number of folds")
        _refuse_reader_flags(args, f"ML-100k's folds {args.folds}")
        folder = args.data if os.path.isdir(args.data) else find_dataset("ml-100k")
        if folder is None:
            raise CLIError("ML-100k was not found; run `mfcore fetch ml-100k` or set MFCORE_DATA_DIR")
        folds, data_name, what = ml100k_folds(spec, folder), "ml-100k", f"folds {', '.join(spec)}"
    else:
        ratings = load_data(args.data, args)
        if len(ratings) < spec:
            raise CLIError(f"--folds {spec} needs at least {spec} ratings; {ratings.name} has {len(ratings)}")
        folds, data_name = kfold_folds(ratings, spec, rng=args.seed), ratings.name
        what = f"{spec}-fold cross-validation (seed {args.seed})"
    print(f"{args.model} on {data_name}, {what}")

    def show(row):
        rank = f"  NDCG@10 {row['ndcg@10']:.4f}  P@10 {row['precision@10']:.4f}" if "ndcg@10" in row else ""
        print(f"  {row['fold']:<6} RMSE {row['rmse']:.4f}  MAE {row['mae']:.4f}{rank}  "
              f"({row['n_train']:,} train / {row['n_test']:,} test, fit {row['fit_seconds']:.1f}s)", flush=True)

    res = cross_validate(model, folds, on_fold=show)
    print(f"  {'mean':<6} RMSE {res['rmse_mean']:.4f} +- {res['rmse_std']:.4f}  "
          f"MAE {res['mae_mean']:.4f} +- {res['mae_std']:.4f}  (std over folds, clipped to the rating "
          f"scale; total fit {res['fit_seconds']:.1f}s)")
    if "ndcg@10_mean" in res:
        print(f"  {'':<6} NDCG@10 {res['ndcg@10_mean']:.4f} +- {res['ndcg@10_std']:.4f}  precision@10 "
              f"{res['precision@10_mean']:.4f} +- {res['precision@10_std']:.4f} (an implicit-feedback "
              "model: rank by these, not by RMSE)")
    if args.json:
        write_json(args.json, {"model": args.model, "data": data_name, "folds_spec": args.folds,
                               "seed": args.seed, "params": plain_params(model), **res,
                               "mfcore_version": __version__})
    return 0


def cmd_evaluate(args):
    from . import load_model
    from .data.readers import read_ratings

    model = load_model(args.file)
    test = read_ratings(args.test, **read_options(args))  # on its own scale, checked against the model's:
    low, high = float(test.values.min()), float(test.values.max())
    if low < model.scale_.low or high > model.scale_.high:
        raise CLIError(f"{args.test} holds ratings from {low:g} to {high:g}, outside the scale {model.scale_} "
                       f"that {args.file} was trained on; evaluate it on ratings of that scale")
    rep = model.evaluate(test)
    if rep["n"] and rep["n_unknown"] == rep["n"]:
        raise CLIError(f"none of the {rep['n']:,} ratings in {args.test} has a user and an item that "
                       f"{args.file} was trained on, so every prediction would be the fallback; check "
                       "that the file uses the training data's ids (user, item, rating: the first three "
                       "columns)")
    print(f"{model.name} on {args.test}: RMSE {rep['rmse']:.4f}  MAE {rep['mae']:.4f} (clipped); "
          f"unclipped RMSE {rep['rmse_unclipped']:.4f}; {rep['n']:,} ratings, "
          f"{rep['n_unknown']:,} with an unknown user or item")
    if model.implicit:
        print(f"note: {model.name} is an implicit-feedback model: it ranks items and its RMSE means nothing; "
              "evaluate it by ranking (mfcore.model_selection.ranking_metrics, or `mfcore train "
              f"{model.name}`, which reports NDCG@10)")
    if args.json:
        write_json(args.json, {"model": model.name, "file": args.file, "test": args.test,
                               "n_test": rep["n"], "test_rmse": rep["rmse"], "test_mae": rep["mae"],
                               "test_rmse_unclipped": rep["rmse_unclipped"],
                               "test_mae_unclipped": rep["mae_unclipped"],
                               "n_test_unknown": rep["n_unknown"]})
    return 0


def cmd_recommend(args):
    from . import load_model

    model = load_model(args.file)
    table = model.recommend(args.user, n=args.n)
    print(f"top {len(table)} for user {args.user} ({model.name}):")
    print(table.to_string(index=False))
    if args.json:
        write_json(args.json, {"model": model.name, "user": args.user,
                               "recommendations": table.to_dict(orient="records")})
    return 0


def model_table():
    """One row per registered model: name, one-line summary, note, default parameters."""
    import inspect

    from .models.registry import get_model_class, model_names

    rows = []
    for name in model_names():
        cls = get_model_class(name)
        doc = inspect.getdoc(cls) or ""
        names = set(cls._param_names()) - {"rng", "verbose"}  # not the old names kept as aliases
        defaults = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items()
                    if k in names and v.default is not inspect.Parameter.empty}
        rows.append({"name": name, "class": cls.__name__, "summary": doc.splitlines()[0] if doc else "",
                     "note": getattr(cls, "note", None), "iterative": bool(cls.iterative),
                     "defaults": {k: (v if isinstance(v, (int, float, str, bool, type(None)))
                                      else list(v) if isinstance(v, tuple) else str(v))
                                  for k, v in defaults.items()}})
    return rows


def cmd_models(args):
    rows = model_table()
    if args.name:
        from .models.registry import get_model_class

        get_model_class(args.name)  # a clear error for an unknown name
        rows = [r for r in rows if r["name"] == args.name]
    if args.json:
        write_json(args.json, rows)
    for r in rows:
        print(f"{r['name']}  ({r['class']})  {r['summary'].replace('``', '')}")
        if r["note"]:
            print(f"    note: {r['note']}")
        if args.defaults or args.name:
            print("    defaults: " + ", ".join(f"{k}={v}" for k, v in r["defaults"].items()))
    return 0


def cmd_tour(args):
    from .models.registry import model_names
    from .tour import run_tour

    if not args.data.strip():
        raise CLIError("--data is empty: give a dataset name (mfcore datasets lists them) or a ratings file")
    rows = run_tour(data=args.data, out=args.out, fast=args.fast, models=args.models, json_path=args.json,
                    seed=args.seed, full=args.full)
    return 0 if len(rows) == len(args.models or model_names()) else 1  # 1: some model failed


class _warnings_as_lines:
    """Show the warnings raised while a command runs as one ``mfcore CMD: warning: ...`` line each."""

    def __init__(self, command):
        self.command = command

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = self._show
        return self

    def _show(self, message, category, filename, lineno, file=None, line=None):
        print(f"mfcore {self.command}: warning: {message}", file=sys.stderr)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


# ---------------------------------------------------------------- parser
def _reader_flags(s):
    s.add_argument("--sep", help="separator of ratings files (default: detected; e.g. ',' '\\t' '::')")
    s.add_argument("--duplicates", choices=["raise", "last", "first", "mean"],
                   help="what to do with a repeated (user, item) pair in a ratings file "
                   "(default raise)")
    s.add_argument("--header", choices=["yes", "no"], help="whether a ratings file's first line is a "
                   "header (default: detected)")
    s.add_argument("--encoding", help="text encoding of ratings files (default utf-8; e.g. latin-1)")


def _model_flags(s):
    """The flags that set model parameters, shared by ``train`` and ``cv``."""
    s.add_argument("--seed", type=int, default=42, help="seed for the split and the model (default 42)")
    s.add_argument("--engine", help="blocks (the default of mf and biased-mf), loop, vectorized, jit "
                   "or jit-fast (MF models; jit-hogwild and jit-fast-hogwild are multi-threaded "
                   "and not reproducible); dot-mf: deferred (its default) or jit, the same numbers")
    s.add_argument("--factors", type=int, help="number of latent factors K")
    s.add_argument("--epochs", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--reg", type=float)
    s.add_argument("--batch-size", dest="batch_size", type=int)
    s.add_argument("--dtype", choices=["float32", "float64"])
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="any other model parameter")


def build_parser():
    p = argparse.ArgumentParser(prog="mfcore", description="Matrix factorization and neural "
                                "recommenders from NumPy and Numba.")
    p.add_argument("--version", action="version", version=f"mfcore {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("datasets", help="list the datasets mfcore knows and where they are")
    s.add_argument("--json", metavar="FILE")
    s.set_defaults(func=cmd_datasets)

    s = sub.add_parser("fetch", help="download a MovieLens archive (checksum-verified, cached)")
    s.add_argument("name")
    s.add_argument("--cache-dir")
    s.add_argument("--force", action="store_true", help="download again even if cached")
    s.add_argument("--no-verify", dest="no_verify", action="store_true",
                   help="accept an archive with no published checksum (ml-latest): not recommended")
    s.set_defaults(func=cmd_fetch)

    s = sub.add_parser("models", help="list the models with a one-line description (and defaults)")
    s.add_argument("name", nargs="?", help="show only this model")
    s.add_argument("--defaults", action="store_true", help="also print every default parameter")
    s.add_argument("--json", metavar="FILE")
    s.set_defaults(func=cmd_models)

    from .models.registry import _MODULES

    s = sub.add_parser("train", help="train a model and report test RMSE/MAE")
    s.add_argument("model", help=f"model name, one of: {', '.join(_MODULES)} (mfcore models "
                   "describes them)")
    s.add_argument("--data", help="dataset name or ratings file/folder "
                   "(default: the bundled ml-latest-small)")
    s.add_argument("--split", help="random:0.2 (default), user:0.2, user:5, warm:0.2, temporal:0.2, "
                   "temporal-user:0.2, kfold:5:1, or u1..u5/ua/ub with --data ml-100k")
    s.add_argument("--train", help="training ratings file (with --test)")
    s.add_argument("--test", help="test ratings file (with --train)")
    _reader_flags(s)
    _model_flags(s)
    s.add_argument("--save", metavar="FILE", help="save the trained model (.npz)")
    s.add_argument("--json", metavar="FILE", help="write the run record as JSON")
    s.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("cv", help="cross-validate a model: mean and spread of test RMSE/MAE over folds")
    s.add_argument("model", help="model name (as for train)")
    s.add_argument("--data", default="ml-latest-small", help="dataset name or ratings file/folder "
                   "(default: the bundled ml-latest-small)")
    s.add_argument("--folds", default="5", help="a number k (seeded k-fold of --data; default 5), or "
                   "ML-100k's canonical folds with --data ml-100k: u1-u5, or a list such as u1,u2 or ua,ub")
    _reader_flags(s)
    _model_flags(s)
    s.add_argument("--json", metavar="FILE", help="write the per-fold and mean results as JSON")
    s.add_argument("--verbose", action="store_true", help="per-epoch lines of every fit")
    s.set_defaults(func=cmd_cv)

    s = sub.add_parser("evaluate", help="evaluate a saved model on a ratings file")
    s.add_argument("file")
    s.add_argument("--test", required=True)
    _reader_flags(s)
    s.add_argument("--json", metavar="FILE")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("recommend", help="top-N items for a user from a saved model")
    s.add_argument("file")
    s.add_argument("--user", required=True, help="raw user id as in the data file")
    s.add_argument("-n", type=int, default=10)
    s.add_argument("--json", metavar="FILE")
    s.set_defaults(func=cmd_recommend)

    s = sub.add_parser("tour", help="train every model on the bundled data and print a table")
    s.add_argument("--data", default="ml-latest-small")
    s.add_argument("--out", default="mfcore-output", help="folder for the plots (default mfcore-output)")
    s.add_argument("--fast", action="store_true", help="few epochs (a smoke run)")
    s.add_argument("--full", action="store_true", help="every model with its default settings "
                   "(slower: the default run shortens a few slow models)")
    s.add_argument("--models", nargs="+", help="only these models")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--json", metavar="FILE")
    s.set_defaults(func=cmd_tour)

    from ._teaching_cli import add_commands  # `mfcore exercises` and `mfcore tutorials`
    add_commands(sub)
    return p


def main(argv=None):
    from ._teaching_cli import NotebookError
    from .exceptions import ChecksumError, DataError, ModelFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        _check_outputs(args)
        with _warnings_as_lines(args.command):  # one `mfcore CMD: warning: ...` line each
            return args.func(args)
    except BrokenPipeError:  # `mfcore ... | head`: the reader left; stop quietly, as Unix tools do
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        except (OSError, ValueError, AttributeError):  # stdout is not a file (an in-process caller)
            pass
        return 141
    except (CLIError, DataError, ModelFileError, ChecksumError, OSError, MemoryError, ModuleNotFoundError,
            NotebookError, KeyError, ValueError, TypeError, FloatingPointError) as exc:
        if os.environ.get("MFCORE_DEBUG"):
            raise
        print(f"mfcore {args.command}: error: {_describe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: files are written whole or not at all, so nothing to clean
        if os.environ.get("MFCORE_DEBUG"):
            raise
        print(f"mfcore {args.command}: interrupted", file=sys.stderr)
        return 130


def _check_outputs(args):
    """Fail before any work when an output cannot be written: ``--save`` and ``--json`` get the
    checks the writer makes and a file created and removed in their folder
    (:func:`mfcore._json.check_writable`), ``--out`` must be a folder that files can be made in,
    and no output may be an input or the other output (it would replace it)."""
    from ._json import check_writable, nearest_existing, probe_folder

    outputs = {}
    for flag, what, example in (("save", "model", "model.npz"), ("json", "JSON record", "run.json")):
        path = getattr(args, flag, None)
        if path is not None:
            try:
                check_writable(path, what, example, probe=True)
            except (OSError, ValueError) as exc:
                raise CLIError(f"--{flag}: {exc}") from None
            outputs[f"--{flag}"] = path
    inputs = {"--data": getattr(args, "data", None), "--train": getattr(args, "train", None),
              "--test": getattr(args, "test", None), "the model file": getattr(args, "file", None)}
    earlier = [(k, os.path.realpath(v)) for k, v in inputs.items() if isinstance(v, str) and os.path.isfile(v)]
    for flag, path in outputs.items():  # each output against the inputs and the outputs before it
        other = next((k for k, v in earlier if v == os.path.realpath(path)), None)
        if other is not None:
            what = other if other.startswith("the ") else f"the file given to {other}"
            raise CLIError(f"{flag} {path}: this is {what}, and writing {flag} would replace it; give "
                           f"{flag} another file name")
        earlier.append((flag, os.path.realpath(path)))
    out = getattr(args, "out", None)
    writes_out = args.command == "tour" or getattr(args, "notebook", None) is not None  # (a listing does not)
    if out is not None and writes_out:
        nearest = nearest_existing(out)
        if not str(out).strip() or not os.path.isdir(nearest):
            raise CLIError(f"--out {out!r}: give a folder path (for the plots or notebooks)")
        try:
            probe_folder(nearest, out, "plots or notebooks")
        except OSError as exc:
            raise CLIError(f"--out: {exc}") from None


# what to do about an operating-system error on a path the user gave
_OS_FIXES = {FileNotFoundError: "check the spelling and the folders on the way, or give an absolute path",
             IsADirectoryError: "it is a folder: give a file path",
             NotADirectoryError: "a part of the path is a file, not a folder: give another path",
             FileExistsError: "it exists and is not a folder: give a folder path, or remove it",
             PermissionError: "no permission: choose a path you can write to (or read)"}


def _describe(exc):
    """The one-line message of an error the command line reports (no traceback)."""
    if isinstance(exc, KeyError) and exc.args:
        return exc.args[0]
    if isinstance(exc, MemoryError):
        return (f"not enough memory{': ' + str(exc) if str(exc) else ''}; use a smaller model (fewer "
                "factors or hidden units) or less data")
    if isinstance(exc, OSError) and exc.filename and not type(exc).__module__.startswith("mfcore"):
        fix = next((f for t, f in _OS_FIXES.items() if isinstance(exc, t)), None)
        text = f"{exc.filename}: {exc.strerror or exc}"
        return f"{text} ({fix})" if fix else text
    return exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
