"""Loaders for the MovieLens datasets from a local folder (downloads live in ``download.py``).

=================  ==============================  =========  ==================
dataset            rating file                     separator  scale
=================  ==============================  =========  ==================
ml-100k            u.data (+ u1..u5, ua, ub)       tab        1..5 step 1
ml-1m              ratings.dat                     ``::``     1..5 step 1
ml-10m             ratings.dat                     ``::``     0.5..5 step 0.5
ml-20m, ml-25m,    ratings.csv (header)            comma      0.5..5 step 0.5
ml-latest(-small)
=================  ==============================  =========  ==================

Every loader keeps the rating file's row order and attaches ``item_info``: a
DataFrame indexed by raw movie id with columns ``title``, ``year`` (nullable
int) and ``genres`` (``"Action|Comedy"``).
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .readers import check_readable, read_ratings
from .ratings import Ratings, RatingScale

STARS = RatingScale(1, 5, 1)
HALF_STARS = RatingScale(0.5, 5, 0.5)
ML100K_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
# The 19 genre flags of u.item, in column order (as listed in ml-100k/u.genre).
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _folder(path, marker, dataset):
    """The dataset folder: ``path`` itself, or the folder of a file inside it."""
    path = Path(path).expanduser()
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"no {dataset} folder at {str(path)!r}; pass the folder that "
                                f"holds {marker} (run `mfcore fetch {dataset}` to download it)")
    if not (path / marker).is_file():
        found = sorted(p.name for p in path.iterdir())[:12]
        raise DataError(f"{path} has no {marker}, so it is not a {dataset} folder (it holds "
                        f"{found}); pass the folder that holds {marker}")
    return path


def _year_from_title(titles):
    return pd.Series(titles).str.extract(_YEAR, expand=False).astype("Int64").array


def _with_info(ratings, item_info, **meta):
    out = replace(ratings, item_info=item_info, meta={**ratings.meta, **meta})
    return out


# ---------------------------------------------------------------- ML-100k
def _ml100k_items(folder):
    genres = list(ML100K_GENRES)
    if (folder / "u.genre").is_file():
        lines = (folder / "u.genre").read_text(encoding="latin-1").splitlines()
        genres = [ln.split("|")[0] for ln in lines if ln.strip()]
    df = pd.read_csv(check_readable(folder / "u.item", "u.item file"), sep="|", header=None,
                     encoding="latin-1", keep_default_na=False, dtype={1: str, 2: str})
    flags = df.iloc[:, 5:5 + len(genres)].to_numpy(dtype=bool)
    names = np.array(genres, dtype=object)
    dates = pd.to_datetime(df[2], format="%d-%b-%Y", errors="coerce")
    info = pd.DataFrame({"title": df[1].to_numpy(dtype=object),
                         "year": dates.dt.year.astype("Int64").array,
                         "genres": ["|".join(names[row]) for row in flags]},
                        index=pd.Index(df[0].to_numpy(dtype=np.int64), name="item"))
    return info


def _ml100k_users(folder):
    path = folder / "u.user"
    if not path.is_file():
        return None
    df = pd.read_csv(path, sep="|", header=None, encoding="latin-1",
                     names=["user", "age", "gender", "occupation", "zip"], dtype={"zip": str})
    return df.set_index("user")


def load_ml100k(path):
    """Load MovieLens 100k: ``u.data`` in file order, titles, genres and user info.

    Parameters
    ----------
    path : str or path-like
        The ``ml-100k`` folder (or any file inside it).

    Returns
    -------
    Ratings
        100,000 ratings by 943 users of 1,682 movies on the 1..5 scale, with
        ``item_info`` (title, year, genres from ``u.item``) and
        ``meta["users"]`` (age, gender, occupation, zip from ``u.user``).
    """
    folder = _folder(path, "u.data", "ml-100k")
    ratings = read_ratings(folder / "u.data", sep="\t", header=False, scale=STARS,
                           name="ml-100k")
    return _with_info(ratings, _ml100k_items(folder), users=_ml100k_users(folder))


def _in_maps(part, full, name):
    """``part`` re-indexed with ``full``'s maps, so both agree on every index."""
    u, i = part.remap(full.user_map, full.item_map)
    if (u < 0).any() or (i < 0).any():
        raise DataError(f"{name} has users or items that are not in u.data; "
                        "is it from another copy of ml-100k?")
    return Ratings(u, i, part.values, full.user_map, full.item_map, full.scale,
                   timestamps=part.timestamps, item_info=full.item_info, name=name,
                   meta={**part.meta, "users": full.meta.get("users")})


def load_ml100k_split(path, name="u1"):
    """Load one of ML-100k's canonical train/test splits.

    Parameters
    ----------
    path : str or path-like
        The ``ml-100k`` folder.
    name : {"u1", "u2", "u3", "u4", "u5", "ua", "ub"}
        ``u1``..``u5`` are the 80/20 five-fold splits; ``ua``/``ub`` hold out
        exactly 10 ratings per user.

    Returns
    -------
    (train, test) : tuple of Ratings
        Read from ``<name>.base`` and ``<name>.test``. Both share one pair of
        maps built over all of u.data, so index u is the same user in both.
    """
    if name not in ML100K_SPLITS:
        raise ValueError(f"The 'name' parameter of load_ml100k_split must be one of "
                         f"{', '.join(map(repr, ML100K_SPLITS))}. Got {name!r} instead.")
    full = load_ml100k(path)
    folder = _folder(path, "u.data", "ml-100k")
    parts = []
    for suffix in ("base", "test"):
        file = folder / f"{name}.{suffix}"
        part = read_ratings(check_readable(file, f"ml-100k split file {name}.{suffix}"),
                            sep="\t", header=False, scale=STARS)
        parts.append(_in_maps(part, full, f"ml-100k/{name}.{suffix}"))
    return parts[0], parts[1]


# ------------------------------------------------------------ ML-1M / ML-10M
def _read_dat_movies(path):
    """``MovieID::Title::Genres`` lines (titles may hold single colons)."""
    raw = check_readable(path, "movies file").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # ML-1M is latin-1; ML-10M is utf-8
        text = raw.decode("latin-1")
    ids, titles, genres = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        movie, sep, rest = line.partition("::")
        title, sep2, genre = rest.rpartition("::")
        if not (sep and sep2 and movie.strip().isdigit()):
            raise DataError(f"{path}, line {number}: expected 'MovieID::Title::Genres', got "
                            f"{line[:60]!r}; is this a MovieLens movies.dat?")
        ids.append(int(movie))
        titles.append(title)
        genres.append(genre)
    return pd.DataFrame({"title": titles, "year": _year_from_title(titles), "genres": genres},
                        index=pd.Index(np.array(ids, dtype=np.int64), name="item"))


def _load_dat(path, dataset, scale):
    folder = _folder(path, "ratings.dat", dataset)
    ratings = read_ratings(folder / "ratings.dat", sep="::", header=False, scale=scale,
                           name=dataset, encoding="latin-1")
    info = _read_dat_movies(folder / "movies.dat") if (folder / "movies.dat").is_file() else None
    users = None
    if (folder / "users.dat").is_file():
        users = pd.read_csv(folder / "users.dat", sep=":", header=None, usecols=[0, 2, 4, 6, 8],
                            encoding="latin-1", dtype={8: str})
        users.columns = ["user", "gender", "age", "occupation", "zip"]
        users = users.set_index("user")
    return _with_info(ratings, info, users=users)


def load_ml1m(path):
    """Load MovieLens 1M from ``ratings.dat``, ``movies.dat`` and ``users.dat``.

    Returns
    -------
    Ratings
        1,000,209 ratings (6,040 users, 3,706 movies) on 1..5, with
        ``item_info`` and ``meta["users"]`` (gender, age and occupation are the
        codes listed in the dataset's README).
    """
    return _load_dat(path, "ml-1m", STARS)


def load_ml10m(path):
    """Load MovieLens 10M (folder ``ml-10M100K``): ``ratings.dat``, ``movies.dat``, half stars."""
    return _load_dat(path, "ml-10m", HALF_STARS)


# ------------------------------------------------------------- CSV family
def _first_existing(folder, names):
    return next((folder / n for n in names if (folder / n).is_file()), None)


def load_movielens_csv(path, name=None):
    """Load ML-20M, ML-25M, ml-latest or ml-latest-small (``ratings.csv`` + ``movies.csv``).

    Also reads Kaggle's copy of ML-20M (``rating.csv``, ``movie.csv``, dates
    instead of Unix times) and, for a folder with ``ratings.dat`` instead, ML-10M.

    Parameters
    ----------
    path : str or path-like
        The dataset folder, or its ratings file.
    name : str, optional
        Name of the result (default: the folder's name).

    Returns
    -------
    Ratings
        On the half-star scale 0.5..5, with ``item_info`` from movies.csv.
    """
    path = Path(path).expanduser()
    folder = path.parent if path.is_file() else path
    if not folder.is_dir():
        raise FileNotFoundError(f"no MovieLens folder at {str(folder)!r}; pass the folder that "
                                "holds ratings.csv (run `mfcore fetch NAME` to download one)")
    file = path if path.is_file() else _first_existing(folder, ("ratings.csv", "rating.csv"))
    if file is None:
        if (folder / "ratings.dat").is_file():
            return _load_dat(folder, name or "ml-10m", HALF_STARS)
        _folder(folder, "ratings.csv", name or "MovieLens")  # raises, listing the files
    ratings = read_ratings(file, sep=",", scale=HALF_STARS, name=name or folder.name)
    movies = _first_existing(folder, ("movies.csv", "movie.csv"))
    info = None
    if movies is not None:
        df = pd.read_csv(movies, encoding="utf-8", dtype={"title": str, "genres": str})
        df.columns = [c.strip() for c in df.columns]
        info = pd.DataFrame({"title": df["title"].to_numpy(dtype=object),
                             "year": _year_from_title(df["title"]),
                             "genres": df["genres"].to_numpy(dtype=object)},
                            index=pd.Index(df["movieId"].to_numpy(dtype=np.int64), name="item"))
    return _with_info(ratings, info)
