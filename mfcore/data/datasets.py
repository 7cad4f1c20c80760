"""The datasets mfcore knows, where to find them, and one function to load any of them.

``load_dataset("ml-100k")`` looks for the folder in this order:

1. ``$MFCORE_DATA_DIR/<name>/`` (a shared data folder, as the tests use);
2. the download cache ``<cache>/<name>/`` (``$MFCORE_CACHE`` or ``~/.cache/mfcore``),
   filled by :func:`mfcore.data.download.fetch` or ``mfcore fetch NAME``;

and loads it with the right loader. ``ml-latest-small`` is shipped inside the
package (the 2016 edition: 100,004 ratings), so ``load_dataset()`` works
offline; it is preferred over any other copy unless ``path=`` is given.
``fetch("ml-latest-small")`` downloads GroupLens's current edition (100,836
ratings), which you then load with ``load_dataset("ml-latest-small", path=...)``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import DataError
from . import movielens, netflix
from .download import ARCHIVES, default_cache_dir, fetch
from .ratings import RatingScale
from .readers import read_ratings

DEFAULT_DATASET = "ml-latest-small"
_GROUPLENS = ("GroupLens research licence: use for research and teaching; no redistribution "
              "without permission (see the README in the archive)")


@dataclass(frozen=True)
class DatasetInfo:
    """One row of :data:`DATASETS`."""

    name: str
    description: str
    files: tuple
    licence: str
    loader: object
    scale: RatingScale


def _csv(name):
    return lambda path, **kw: movielens.load_movielens_csv(path, name=kw.pop("name", name), **kw)


DATASETS = {info.name: info for info in (
    DatasetInfo("ml-100k", "MovieLens 100k: 100,000 ratings by 943 users of 1,682 movies "
                "(1997-98), with the canonical u1..u5, ua, ub splits",
                ("u.data", "u.item", "u.user", "u1.base", "u1.test"), _GROUPLENS,
                movielens.load_ml100k, movielens.STARS),
    DatasetInfo("ml-1m", "MovieLens 1M: 1,000,209 ratings by 6,040 users (2000-03)",
                ("ratings.dat", "movies.dat", "users.dat"), _GROUPLENS,
                movielens.load_ml1m, movielens.STARS),
    DatasetInfo("ml-10m", "MovieLens 10M: 10,000,054 half-star ratings by 69,878 users",
                ("ratings.dat", "movies.dat"), _GROUPLENS, movielens.load_ml10m,
                movielens.HALF_STARS),
    DatasetInfo("ml-20m", "MovieLens 20M: 20,000,263 half-star ratings by 138,493 users",
                ("ratings.csv", "movies.csv"), _GROUPLENS, _csv("ml-20m"), movielens.HALF_STARS),
    DatasetInfo("ml-25m", "MovieLens 25M: 25,000,095 half-star ratings by 162,541 users",
                ("ratings.csv", "movies.csv"), _GROUPLENS, _csv("ml-25m"), movielens.HALF_STARS),
    DatasetInfo("ml-latest", "MovieLens latest (full): all ratings to date; GroupLens "
                "updates it, so it has no fixed checksum",
                ("ratings.csv", "movies.csv"), _GROUPLENS, _csv("ml-latest"),
                movielens.HALF_STARS),
    DatasetInfo("ml-latest-small", "MovieLens latest small, 2016 edition (bundled): 100,004 "
                "half-star ratings by 671 users of 9,066 movies",
                ("ratings.csv", "movies.csv", "README.txt"),
                "GroupLens licence; redistributed unchanged with mfcore (see its README.txt)",
                _csv("ml-latest-small"), movielens.HALF_STARS),
    DatasetInfo("netflix", "Netflix Prize: 100,480,507 ratings by 480,189 users of 17,770 "
                "movies (1998-2005); download it from Kaggle",
                netflix.NETFLIX_FILES + ("movie_titles.csv",),
                "Netflix Prize rules: not redistributable; mfcore does not download it",
                netflix.load_netflix, netflix.NETFLIX_SCALE),
)}


def dataset_names():
    """Names of the known datasets, in table order."""
    return list(DATASETS)


def bundled_path():
    """The folder of the ml-latest-small copy shipped inside the package."""
    return Path(__file__).resolve().parent / "_bundled" / "ml-latest-small"


def _check_name(name):
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets are "
                        f"{', '.join(DATASETS)} (or pass a path to a ratings file or folder)")


def find_dataset(name):
    """The folder holding dataset ``name``, or None if there is no local copy.

    Looks in ``$MFCORE_DATA_DIR/<name>``, then the download cache, then (for
    ml-latest-small) the bundled copy. A folder counts only if it holds the
    dataset's first file.
    """
    _check_name(name)
    folders = []
    if os.environ.get("MFCORE_DATA_DIR"):
        base = Path(os.environ["MFCORE_DATA_DIR"]).expanduser()
        folders.append(base / name)
        if name in ARCHIVES and ARCHIVES[name].folder != name:  # ml-10m unzips to ml-10M100K
            folders.append(base / ARCHIVES[name].folder)
    folders.append(default_cache_dir() / name)
    if name == "ml-latest-small":
        folders.append(bundled_path())
    marker = DATASETS[name].files[0]
    return next((f for f in folders if (f / marker).is_file()), None)


def _recognise(folder):
    """Load a dataset folder by the files it holds."""
    def has(*names):
        return any((folder / n).is_file() for n in names)

    if has("u.data"):
        return movielens.load_ml100k(folder)
    if has("combined_data_1.txt"):
        return netflix.load_netflix(folder, titles=has("movie_titles.csv"))
    if has("ratings.dat"):
        return movielens.load_ml1m(folder) if has("users.dat") else movielens.load_ml10m(folder)
    if has("ratings.csv", "rating.csv"):
        return movielens.load_movielens_csv(folder, name=folder.name)
    found = sorted(p.name for p in folder.iterdir())[:12]
    raise DataError(f"{folder} is not a dataset folder mfcore recognises (it holds {found}); "
                    "expected u.data, ratings.dat, ratings.csv or combined_data_1.txt. "
                    "Pass the ratings file itself to read it with read_ratings")


def load_dataset(name_or_path=DEFAULT_DATASET, path=None, download=False, **kw):
    """Load a dataset by name, or any ratings file or dataset folder by path.

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`dataset_names` (a str), a ratings file (read with
        :func:`~mfcore.data.readers.read_ratings`) or a dataset folder
        (recognised by ``u.data``, ``ratings.dat``, ``ratings.csv`` or
        ``combined_data_1.txt``).
    path : str or path-like, optional
        With a name: the folder to load it from, instead of searching.
    download : bool
        With a name that is not found locally: fetch it from GroupLens.
    **kw
        Passed to the loader (e.g. ``sep=`` for a file, ``files=`` for netflix).

    Returns
    -------
    Ratings

    Examples
    --------
    >>> r = load_dataset()            # the bundled ml-latest-small
    >>> r.n_ratings, r.n_users, r.n_items
    (100004, 671, 9066)
    """
    name = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and name in DATASETS:  # a Path is always a path
        info = DATASETS[name]
        if path is not None:
            folder = Path(path).expanduser()
        elif name == "ml-latest-small":
            folder = bundled_path()
        else:
            folder = find_dataset(name)
        if folder is None and name == "netflix":
            raise DataError("the Netflix Prize data is not on this machine and mfcore cannot "
                            "download it: get 'Netflix Prize data' from Kaggle, unzip it and "
                            "pass the folder: load_dataset('netflix', path=FOLDER), or on the command "
                            "line --data FOLDER")
        if folder is None and download:
            folder = fetch(name)
        if folder is None:
            raise DataError(f"{name} was not found in $MFCORE_DATA_DIR/{name} or "
                            f"{default_cache_dir() / name}; run `mfcore fetch {name}` (or "
                            f"load_dataset({name!r}, download=True)), or pass path=FOLDER (on the command "
                            "line: --data FOLDER)")
        return info.loader(folder, **kw)
    if path is not None:
        raise ValueError("path= goes with a dataset name; got a path as the first argument too")
    p = Path(name).expanduser()
    if p.is_file():
        return read_ratings(p, **kw)
    if p.is_dir():
        if kw:
            raise TypeError(f"a dataset folder takes no loader options; got {sorted(kw)}")
        return _recognise(p)
    raise DataError(f"{name!r} is neither a known dataset nor an existing file or folder; "
                    f"known datasets are {', '.join(DATASETS)}")
