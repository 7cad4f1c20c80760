"""Read any delimited ratings file into :class:`~mfcore.data.ratings.Ratings`.

One function, :func:`read_ratings`, covers the common layouts::

    196	242	3	881250949          (tab, ML-100k u.data)
    1::1193::5::978300760          (double colon, ML-1M/10M ratings.dat)
    userId,movieId,rating,...      (comma with a header, ML-20M/25M/latest)
    alice bob 7.5                  (whitespace, string ids, any numeric scale)

Rows keep their order in the file: row k of the result is the k-th rating line.
Every error names the file, the 1-based line number in the file where one
applies, and what to do about it.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import plain_repr
from ..exceptions import DataError
from .ratings import DUPLICATE_POLICIES, IdMap, Ratings, RatingScale, resolve_duplicates

_SEPARATORS = ("::", "\t", ",", ";", "|")
_ROLES = ("user", "item", "rating", "timestamp")


def check_readable(path, what="ratings file"):
    """Return ``path`` as a Path if it is a readable file; raise a helpful OSError otherwise."""
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {str(path)!r} (looked from {os.getcwd()}); "
                                "check the spelling, or pass an absolute path")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, not a {what}; pass the file inside "
                                "it, or load_dataset(folder) to recognise a dataset folder")
    try:
        with open(path, "rb"):
            pass
    except PermissionError as exc:
        raise PermissionError(f"cannot read {str(path)!r}: permission denied; "
                              "check the file's permissions (e.g. chmod u+r)") from exc
    return path


def _sample_lines(path, encoding, n=20):
    """The first ``n`` non-blank lines and their 1-based line numbers."""
    with open(path, "rb") as f:
        start = f.read(4096)
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))  # these hold NUL bytes
    if start[:2] == b"\x1f\x8b" or start[:4] == b"PK\x03\x04" or (b"\x00" in start and not wide):
        raise DataError(f"{path} is not a text file (compressed, an archive, a model file, or text in "
                        "UTF-16?): give the ratings as text, one per line (unpack a .gz or .zip first; "
                        "for UTF-16 text pass encoding='utf-16', on the command line --encoding utf-16)")
    lines, numbers = [], []
    try:
        with open(path, encoding=encoding, errors="strict", newline=None) as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    numbers.append(number)
                    lines.append(line.rstrip("\r\n"))
                    if len(lines) >= n:
                        break
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot be decoded as {encoding} ({exc.reason} at byte "
                        f"{exc.start}); pass the right encoding, e.g. encoding='latin-1' (on the command "
                        "line: --encoding latin-1)") from exc
    if not lines:
        raise DataError(f"{path} is empty: it holds no ratings. Expected lines such as "
                        "'user,item,rating[,timestamp]'")
    return lines, numbers


def _split(line, sep):
    return line.split() if sep is None else line.split(sep)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _detect_sep(lines):
    """The first separator on the first line and on at least half of the sampled lines.

    None means runs of whitespace.
    """
    for sep in _SEPARATORS:
        if len(lines[0].split(sep)) >= 3 and 2 * sum(sep in ln for ln in lines) >= len(lines):
            return sep
    return None


def _check_width(path, line, number, sep):
    """A wrong separator shows as fewer than 3 columns on the first lines."""
    found = len(_split(line, sep))
    if found >= 3:
        return
    shown = "whitespace" if sep is None else repr(sep)
    where = f"{path}, line {number}: {line.strip()[:60]!r}"
    widest = max(_SEPARATORS, key=lambda c: len(line.split(c)))
    n_widest = len(line.split(widest))
    if n_widest >= 3:
        raise DataError(f"{where} has {found} column(s) split on {shown} but {n_widest} split on "
                        f"{widest!r}; pass sep={widest!r} (on the command line --sep)")
    if n_widest > found:
        found, shown = n_widest, repr(widest)
    raise DataError(
        f"{where} has only {found} column(s) split on {shown}, but a ratings file needs user, "
        "item and rating columns; check the file, or pass the file's separator as sep= "
        "(e.g. sep=',', sep='\\t', sep='::'; on the command line --sep)")


def _resolve_columns(columns, header_fields, path):
    """Positions of (user, item, rating[, timestamp]) from ``columns`` (names or positions)."""
    if columns is None:
        return [0, 1, 2, 3]
    columns = list(columns)
    if len(columns) not in (3, 4):
        raise ValueError(f"columns must list 3 or 4 columns (user, item, rating[, timestamp]); "
                         f"got {columns!r}")
    positions = []
    for col in columns:
        if isinstance(col, (int, np.integer)):
            if col < 0:
                raise ValueError(f"columns={columns!r}: column positions are 0-based and >= 0; got {col}")
            positions.append(int(col))
        elif header_fields is None:
            raise DataError(f"{path}: columns={columns!r} names columns but the file has no header "
                            "line; give column positions (0-based) instead, or header=True (on the "
                            "command line: --header yes)")
        elif col not in header_fields:
            raise DataError(f"{path}: no column named {col!r}; the header has {header_fields}. "
                            "Pass the right names (or 0-based positions) as columns=")
        else:
            positions.append(header_fields.index(col))
    return positions


def _fail_at(path, line, problem, fix):
    raise DataError(f"{path}, line {line}: {problem}; {fix}")


def _ids(col, role, path, lines_of):
    """Raw ids as int64 (when every id is an integer) or str."""
    missing = col.isna().to_numpy()
    if missing.any():
        _fail_at(path, lines_of(np.flatnonzero(missing)[0]), f"the {role} column is missing",
                 "every line needs user, item and rating columns; fix or delete the line, "
                 "or pass sep= if the separator was guessed wrong")
    values = col.to_numpy()
    if values.dtype.kind == "f":
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
        return col.astype(str).to_numpy()
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    return col.astype(str).to_numpy(dtype=str)


def _ratings(col, path, lines_of):
    """Ratings as float64, with an error at the first missing, text, NaN or infinite one."""
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raw = col.iloc[row]
        if pd.isna(raw) and not isinstance(raw, str):
            problem, fix = "the rating is missing or NaN", "every line needs a numeric rating"
        elif np.isinf(values[row]):
            problem = f"the rating {plain_repr(raw)} is infinite"
            fix = "ratings must be finite numbers: correct the value or delete the line"
        elif str(raw).strip().lower() in ("nan", "+nan", "-nan"):
            problem, fix = "the rating is NaN", "drop or impute the missing ratings first"
        else:
            problem = f"the rating {plain_repr(raw)} is not a number"
            fix = ("check that the rating is the 3rd column (from Python, columns= picks others), "
                   "and that a header line is not mistaken for data (pass header=True; on the command "
                   "line: --header yes)")
        n_bad = int(bad.sum())
        _fail_at(path, lines_of(row), f"{problem} ({n_bad} bad rating{'s' if n_bad > 1 else ''} in all)", fix)
    return values


def _timestamps(col, path, lines_of, explicit):
    """Integer timestamps as int64; date strings become Unix seconds (UTC). None if unusable."""
    values = pd.to_numeric(col, errors="coerce")
    if values.notna().all() and np.all(values == np.round(values)):
        return values.to_numpy(dtype=np.int64)
    try:
        dates = pd.to_datetime(col, format="ISO8601", utc=True)
    except (ValueError, TypeError):
        dates = None
    if dates is not None and dates.notna().all():
        return ((dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    if not explicit and values.notna().mean() < 0.5:
        return None  # a 4th column of something else (text): no timestamps
    # a timestamp column (named, or mostly integers) with a bad entry: say where, not drop them all
    row = int(np.flatnonzero(values.isna().to_numpy() | (values != np.round(values)).to_numpy())[0])
    _fail_at(path, lines_of(row),
             f"the timestamp {plain_repr(col.iloc[row])} is neither an integer nor a date",
             "fix it, or pass 3 columns= to read no timestamps")


def read_ratings(path, sep=None, header=None, columns=None, scale=None, duplicates="raise",
                 name=None, encoding="utf-8"):
    """Read a delimited ratings file, keeping the rows in file order.

    Parameters
    ----------
    path : str or path-like
        A text file with one rating per line: user, item, rating and an
        optional 4th timestamp column.
    sep : str, optional
        The separator. None detects ``::``, tab, comma, ``;`` or ``|`` (the
        first one present on every sampled line), else runs of whitespace.
    header : bool, optional
        Whether the first line is a header. None: a header when the first
        line's rating field is not a number.
    columns : sequence of 3 or 4 str or int, optional
        The (user, item, rating[, timestamp]) columns, by header name or
        0-based position. None: the first three columns, and the fourth as
        timestamps when every value is an integer or an ISO date (dates become
        Unix seconds); otherwise the fourth is ignored.
    scale : RatingScale, optional
        The rating scale; every rating must lie in it. None infers it with
        :meth:`RatingScale.infer`.
    duplicates : {"raise", "last", "first", "mean"}
        What to do when a (user, item) pair occurs on several lines. "raise"
        names both lines; "first"/"last" keep that occurrence (at its own
        position in the file); "mean" keeps the first occurrence, with the
        mean of the pair's ratings and the first occurrence's timestamp.
    name : str, optional
        Name of the result (default: the file name).
    encoding : str
        Text encoding; MovieLens 100k/1M metadata files need "latin-1".

    Returns
    -------
    Ratings
        With ``meta["source"]`` (the path) and ``meta["duplicates_merged"]``
        (rows dropped by the duplicate policy).

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        When the path cannot be read as a file.
    DataError
        For an empty file, a wrong separator, a missing column, a rating that
        is not a finite number, a rating outside ``scale`` or a duplicate pair;
        the message names the file and the line.

    Examples
    --------
    >>> r = read_ratings("ml-100k/u.data")                      # doctest: +SKIP
    >>> r.n_ratings, r.n_users, r.n_items, str(r.scale)         # doctest: +SKIP
    (100000, 943, 1682, '1..5 step 1')
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"The 'duplicates' parameter of read_ratings must be one of "
                         f"{', '.join(map(repr, DUPLICATE_POLICIES))}. Got {duplicates!r} instead.")
    if scale is not None and not isinstance(scale, RatingScale):
        raise TypeError(f"The 'scale' parameter of read_ratings must be a RatingScale (e.g. RatingScale(1, 5, "
                        f"1)) or None (inferred). Got {type(scale).__name__} {scale!r} instead.")
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(f"The 'encoding' parameter of read_ratings must be a text encoding Python knows "
                         f"(e.g. 'utf-8', 'latin-1'). Got {encoding!r} instead.") from None
    path = check_readable(path)
    lines, numbers = _sample_lines(path, encoding)
    if sep is None:
        sep = _detect_sep(lines)
    fields = [f.strip().strip('"') for f in _split(lines[0], sep)]
    _check_width(path, lines[0], numbers[0], sep)
    positions = _resolve_columns(columns, None if header is False else fields, path)
    if header is None:
        header = positions[2] >= len(fields) or not _is_number(fields[positions[2]])
        if columns is not None and any(isinstance(c, str) for c in columns):
            header = True
    if header and len(lines) == 1:
        raise DataError(f"{path} has a header line but no ratings below it")
    data_fields = _split(lines[int(header)], sep)
    first_data = numbers[int(header)]  # pandas starts reading here, so row k is line first_data+k
    _check_width(path, lines[int(header)], first_data, sep)
    if columns is None:
        positions = positions[:4] if len(data_fields) >= 4 else positions[:3]
    if max(positions) >= len(data_fields):
        raise DataError(f"{path}: column {max(positions)} was asked for, but line "
                        f"{first_data} has only {len(data_fields)} columns")

    # pandas reads '::' as ':' with an empty field between real ones: field k sits at 2k.
    pd_sep = r"\s+" if sep is None else (":" if sep == "::" else sep)
    pd_pos = [2 * p for p in positions] if sep == "::" else positions
    try:
        df = pd.read_csv(path, sep=pd_sep, header=None, skiprows=first_data - 1,
                         usecols=pd_pos, encoding=encoding, skip_blank_lines=False, engine="c")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed ({exc}); check sep= and encoding=") from exc
    df = df[pd_pos]
    df.columns = _ROLES[:len(pd_pos)]
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df = df.loc[~blank]
    index, offset = df.index, first_data

    def lines_of(row):
        return int(index[row]) + offset

    users = _ids(df["user"], "user", path, lines_of)
    items = _ids(df["item"], "item", path, lines_of)
    values = _ratings(df["rating"], path, lines_of)
    ts = None
    if "timestamp" in df:
        ts = _timestamps(df["timestamp"], path, lines_of, explicit=columns is not None)
    user_map, u = IdMap.from_values(users)
    item_map, i = IdMap.from_values(items)

    def describe(first, second, n_repeats):
        _fail_at(path, lines_of(second),
                 f"user {users[second].item()!r} rated item {items[second].item()!r} again "
                 f"(first on line "
                 f"{lines_of(first)})",
                 "pass duplicates='last', 'first' or 'mean' to keep one rating per pair "
                 "(on the command line: --duplicates last)")

    keep, values = resolve_duplicates(u, i, len(item_map), values, duplicates, describe)
    n_merged = 0
    if keep is not None:
        n_merged = int((~keep).sum())
        u, i, values = u[keep], i[keep], values[keep]
        ts = None if ts is None else ts[keep]
        index = index[keep]
    if scale is not None:
        outside = (values < scale.low) | (values > scale.high)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            _fail_at(path, lines_of(row),
                     f"the rating {values[row]:g} is outside the scale {scale}",
                     "pass scale=None to infer the scale from the file, or fix the rating")
    else:
        scale = RatingScale.infer(values)
    out = Ratings(u, i, values, user_map, item_map, scale, timestamps=ts,
                  name=name or path.name)
    out.meta.update(source=str(path), duplicates_merged=n_merged)
    return out
