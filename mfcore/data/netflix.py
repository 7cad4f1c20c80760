"""Load the Netflix Prize ratings (100,480,507 of them) from the four ``combined_data`` files.

The format is blocks of lines::

    1:                      <- movie id, then a colon
    1488844,3,2005-09-06    <- user id, rating 1..5, date of the rating
    822109,5,2005-05-13
    2:
    ...

and ``movie_titles.csv`` (ISO-8859-1) holds ``movie_id,year,title`` where the
year may be ``NULL`` and the title may contain commas.

The files are read in 16 MB chunks and parsed with NumPy on the raw bytes: a
rating line always ends in ``,R,YYYY-MM-DD``, so the rating and the date sit at
fixed offsets from the end of the line and only the user id has a variable
width. :func:`_parse_lines_simple` is the same parser written line by line; the
tests check that both agree.

Memory: a quick first pass counts the lines, then every chunk is parsed
straight into the final arrays (raw ids, re-indexed in place at the end), so
the peak is the size of the result (16 bytes per rating, 24 with timestamps:
1.5 GiB and 2.2 GiB for the full data) plus one chunk's working space.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .ratings import IdMap, Ratings, RatingScale
from .readers import check_readable

NETFLIX_FILES = tuple(f"combined_data_{k}.txt" for k in range(1, 5))
NETFLIX_SCALE = RatingScale(1, 5, 1)
CHUNK_BYTES = 1 << 24
_PAD = 16
_LUT_MAX = 1 << 25  # raw ids below this are indexed with a lookup table, else a binary search


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the proleptic Gregorian dates (y, m, d), vectorised.

    Howard Hinnant's ``days_from_civil`` algorithm, for years >= 0.
    """
    y = y.astype(np.int64) - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _parse_lines_simple(lines, movie=None):
    """Readable reference parser: ``(movies, users, ratings, days)`` lists for text lines."""
    epoch = datetime.date(1970, 1, 1).toordinal()
    out = ([], [], [], [])
    for line in lines:
        line = line.strip()
        if line.endswith(":"):
            movie = int(line[:-1])
        elif line:
            user, rating, date = line.split(",")
            day = datetime.date.fromisoformat(date).toordinal() - epoch
            for column, value in zip(out, (movie, int(user), int(rating), day)):
                column.append(value)
    return out


def _digits(a, pos):
    return a[pos].astype(np.int32) - 48


def _parse_chunk(buf, movie, file, line0):
    """Parse whole lines in ``buf`` (bytes ending in a newline).

    ``movie`` is the movie id in force at the start (None before the first
    header); ``line0`` the number of lines before ``buf`` in ``file``. Returns
    ``(movies, users, ratings, days, last_movie, n_lines)``.
    """
    a = np.zeros(len(buf) + 2 * _PAD, dtype=np.uint8)  # padded: short lines stay in bounds
    a[_PAD:_PAD + len(buf)] = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(a == 10)                                     # (L,) newline positions
    starts = np.empty_like(ends)
    starts[0], starts[1:] = _PAD, ends[:-1] + 1
    ends = ends - ((ends > starts) & (a[ends - 1] == 13))              # drop a '\r'
    length = ends - starts
    last = a[np.maximum(ends - 1, 0)]
    is_header = (length > 0) & (last == 58)                           # ends in ':'
    rows = np.flatnonzero((length > 0) & ~is_header)                  # (n,) rating lines
    heads = np.flatnonzero(is_header)
    head_ids = np.empty(heads.size, dtype=np.int32)
    for k, h in enumerate(heads):
        text = buf[starts[h] - _PAD:ends[h] - 1 - _PAD]
        if not text.strip().isdigit():
            raise DataError(f"{file}, line {line0 + h + 1}: {text!r} is not a movie id; "
                            "a header line is 'movie_id:'")
        head_ids[k] = int(text)
    s, e = starts[rows], ends[rows]
    ok = (e - s >= 14)
    e = np.where(ok, e, s + 14)  # keep the gathers below in bounds; bad rows are reported
    ok &= (a[e - 11] == 44) & (a[e - 13] == 44) & (a[e - 6] == 45) & (a[e - 3] == 45)
    rating = _digits(a, e - 12)
    ok &= (rating >= 1) & (rating <= 5)
    year = np.zeros(rows.size, np.int32)
    for k in range(4):
        dig = _digits(a, e - 10 + k)
        ok &= (dig >= 0) & (dig <= 9)
        year = year * 10 + dig
    month = _digits(a, e - 5) * 10 + _digits(a, e - 4)
    day = _digits(a, e - 2) * 10 + _digits(a, e - 1)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    width = e - 13 - s                                                # user id digits
    ok &= (width >= 1) & (width <= 9)
    user = np.zeros(rows.size, np.int32)
    for k in range(9):
        inside = k < width
        dig = _digits(a, np.where(inside, s + k, s))
        ok &= ~inside | ((dig >= 0) & (dig <= 9))
        user = np.where(inside, user * 10 + dig, user)
    if not ok.all():
        r = rows[np.flatnonzero(~ok)[0]]
        text = buf[starts[r] - _PAD:ends[r] - _PAD].decode("latin-1")
        raise DataError(f"{file}, line {line0 + r + 1}: expected 'user_id,rating,YYYY-MM-DD' "
                        f"with a rating 1..5 or a 'movie_id:' line, got {text!r}")
    block = np.searchsorted(heads, rows, side="right") - 1            # (n,) header before row
    if movie is None and rows.size and block[0] < 0:
        raise DataError(f"{file}, line {line0 + rows[0] + 1}: a rating comes before any "
                        "'movie_id:' line; is this a Netflix Prize combined_data file?")
    movies = np.where(block >= 0, head_ids[np.maximum(block, 0)] if heads.size else 0,
                      movie or 0).astype(np.int32)
    last_movie = int(head_ids[-1]) if heads.size else movie
    days = days_from_civil(year, month, day).astype(np.int32)
    return movies, user, rating.astype(np.int8), days, last_movie, int(ends.size)


def _iter_file(file, chunk_bytes):
    """Yield parsed chunks of one file (whole lines only)."""
    movie, line0, rest = None, 0, b""
    with open(file, "rb") as f:
        while True:
            data = f.read(chunk_bytes)
            buf = rest + data
            if not data:
                if buf.strip():
                    *parsed, movie, n = _parse_chunk(buf + b"\n", movie, file, line0)
                    yield parsed
                return
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                rest = buf
                continue
            buf, rest = buf[:cut], buf[cut:]
            *parsed, movie, n = _parse_chunk(buf, movie, file, line0)
            line0 += n
            yield parsed


def _count_bound(paths, chunk_bytes):
    """An upper bound on the rating lines: newlines (+1 per file) minus lines ending in ':'."""
    n = 0
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(max(chunk_bytes, 1 << 20)):
                n += block.count(b"\n") - block.count(b":\n") - block.count(b":\r\n")
        n += 1
    return n


def _index_in_place(ids, block=1 << 22):
    """Replace the raw ids in ``ids`` by their indices; return the IdMap."""
    low, high = int(ids.min()), int(ids.max())
    if 0 <= low and high < _LUT_MAX:  # a lookup table over the id range
        seen = np.zeros(high + 1, dtype=bool)
        for a in range(0, ids.size, block):
            seen[ids[a:a + block]] = True
        raw = np.flatnonzero(seen)
        lut = np.zeros(high + 1, dtype=np.int32)
        lut[raw] = np.arange(raw.size, dtype=np.int32)
        for a in range(0, ids.size, block):
            ids[a:a + block] = lut[ids[a:a + block]]
    else:  # sparse huge ids: sort a copy once, then binary search
        raw = np.unique(ids)
        for a in range(0, ids.size, block):
            ids[a:a + block] = np.searchsorted(raw, ids[a:a + block])
    return IdMap(raw)


def read_movie_titles(path):
    """``movie_titles.csv`` as a DataFrame indexed by movie id: ``title``, ``year`` (nullable).

    Only the first two commas separate fields; the rest belong to the title.
    """
    path = check_readable(path, "movie titles file")
    ids, years, titles = [], [], []
    with open(path, encoding="ISO-8859-1") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split(",", 2)
            if len(parts) != 3 or not parts[0].strip().isdigit() or not (
                    parts[1].strip().isdigit() or parts[1].strip() == "NULL"):
                raise DataError(f"{path}, line {number}: expected 'movie_id,year,title' "
                                f"(year may be NULL), got {line.strip()[:60]!r}")
            ids.append(int(parts[0]))
            years.append(None if parts[1].strip() == "NULL" else int(parts[1]))
            titles.append(parts[2])
    return pd.DataFrame({"title": titles, "year": pd.array(years, dtype="Int64")},
                        index=pd.Index(np.array(ids, dtype=np.int64), name="item"))


def load_netflix(path, files=None, titles=True, timestamps=True, chunk_bytes=CHUNK_BYTES):
    """Load Netflix Prize ratings, streaming the files in chunks.

    Parameters
    ----------
    path : str or path-like
        The folder holding ``combined_data_{1..4}.txt`` (and ``movie_titles.csv``).
    files : list of str or path-like, optional
        The rating files to read, relative to ``path`` or absolute, in order.
        Default: all four ``combined_data`` files (each must exist).
    titles : bool
        Attach ``item_info`` (title, year) from ``movie_titles.csv``.
    timestamps : bool
        Keep the rating dates as int32 Unix seconds (midnight UTC). They
        cost 4 bytes per rating (400 MB for the full data); pass False to
        save that. Ratings are stored as float32 (exact for 1..5), so the
        full data takes 12 bytes per rating without dates, 16 with them.
    chunk_bytes : int
        Bytes read per step (memory use while parsing grows with it).

    Returns
    -------
    Ratings
        Rows in file order on the 1..5 scale; movie ids and user ids are the
        raw ids of the files. The loader does not check for duplicate pairs
        (the official files have none).
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"no Netflix Prize folder at {str(folder)!r}; download the data "
                                "from Kaggle ('Netflix Prize data') and pass the unzipped folder")
    if files is None:
        missing = [f for f in NETFLIX_FILES if not (folder / f).is_file()]
        if missing:
            raise DataError(f"{folder} lacks {missing}; pass the folder holding the four "
                            "combined_data files, or files=[...] to load only some of them")
        files = NETFLIX_FILES
    paths = [check_readable(folder / f, "Netflix ratings file") for f in files]
    # Parse straight into the final arrays (raw ids first, re-indexed in place
    # below), so that the peak memory is the size of the result.
    cap = _count_bound(paths, chunk_bytes)
    users, items = np.empty(cap, np.int32), np.empty(cap, np.int32)
    values = np.empty(cap, np.float32)  # 1..5 are exact in float32
    ts = np.empty(cap, np.int32) if timestamps else None  # seconds to 2038 fit in int32
    n = 0
    for file in paths:
        for m, u, r, d in _iter_file(file, chunk_bytes):
            stop = n + m.size
            items[n:stop], users[n:stop], values[n:stop] = m, u, r
            if timestamps:
                np.multiply(d, 86400, out=ts[n:stop], dtype=np.int32)
            n = stop
    if n == 0:
        raise DataError(f"no ratings in {[str(p) for p in paths]}: the files are empty")
    users, items, values = users[:n], items[:n], values[:n]  # views: no copy
    ts = ts[:n] if timestamps else None
    user_map, item_map = _index_in_place(users), _index_in_place(items)
    info = None
    if titles:
        title_file = folder / "movie_titles.csv"
        if not title_file.is_file():
            raise DataError(f"{folder} has no movie_titles.csv; pass titles=False to load "
                            "the ratings without titles")
        info = read_movie_titles(title_file)
    return Ratings(users, items, values, user_map, item_map, NETFLIX_SCALE, timestamps=ts,
                   item_info=info, name="netflix",
                   meta={"source": str(folder), "files": [p.name for p in paths]})
