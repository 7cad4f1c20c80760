"""The ratings container: who rated what, how much, and the maps back to raw ids.

A :class:`Ratings` holds one rating per row in three parallel arrays

* ``users``  int32 index u in [0, n_users)
* ``items``  int32 index i in [0, n_items)
* ``values`` float64 rating r_ui

plus an :class:`IdMap` for users and one for items (raw id <-> index), the
rating scale, and optional timestamps and item metadata (titles, genres).

A rating of 0 or below is a rating, never a missing value: sparse exports carry
an explicit observed-mask (see :meth:`Ratings.to_csr`).

Several Ratings can share one pair of maps (a train/test split does), so the
same index means the same user in both. A user that appears in the maps but has
no training rating is "unknown" to a model trained on it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .._validation import plain_repr
from ..exceptions import DataError

DUPLICATE_POLICIES = ("raise", "last", "first", "mean")  # read_ratings'
ARRAY_DUPLICATE_POLICIES = DUPLICATE_POLICIES + ("warn", "keep")  # from_arrays'


def resolve_duplicates(users, items, n_items, values, policy, describe):
    """Apply a duplicate policy ("raise", "last", "first", "mean"; "warn" and "keep" keep
    every row) to the index pairs (users, items); return ``(keep, values)`` (``keep`` None when
    every row stays). ``describe(first_row, second_row, n_repeats)`` is called under "raise"
    (it must raise) and "warn" (it warns), with the first repeated pair's two rows."""
    key = users.astype(np.int64) * n_items + items  # (n,) one number per pair
    ordered = np.sort(key)  # whether any pair repeats: a SIMD sort, much faster than a hash on large data
    if not (ordered[1:] == ordered[:-1]).any():
        return None, values
    del ordered
    key = pd.Series(key)
    dup = key.duplicated(keep="first").to_numpy()
    if policy in ("raise", "warn"):
        second = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(key.to_numpy()[:second] == key.iloc[second])[0])
        describe(first, second, int(dup.sum()))
    if policy in ("warn", "keep"):
        return None, values
    if policy == "last":
        return ~key.duplicated(keep="last").to_numpy(), values
    if policy == "mean":  # every row gets its pair's mean; the first occurrence is kept
        means = pd.Series(values).groupby(key.to_numpy()).mean()
        values = key.map(means).to_numpy(dtype=np.float64)
    return ~dup, values


def _as_integer(text):
    """``(value, ok)``: the integer a string id stands for ("196", "196.0"), or (0, False)."""
    try:
        return int(text), True
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return 0, False
        if not np.isfinite(value) or value != round(value) or abs(value) >= 2 ** 63:
            return 0, False
        return int(value), True


class IdMap:
    """A bijection between raw ids (ints or strings) and indices 0..n-1.

    Raw ids are kept sorted, so an index is the rank of its raw id and lookups
    are a binary search (fast for hundreds of thousands of ids).

    Parameters
    ----------
    raw_ids : array-like
        The distinct raw ids. They are sorted; duplicates are an error.
    """

    def __init__(self, raw_ids):
        raw = np.asarray(raw_ids)
        if raw.dtype == object:
            raw = raw.astype(str)
        if raw.ndim != 1:
            raise ValueError(f"raw ids must be 1-D, got shape {raw.shape}")
        if raw.dtype.kind in "iu":
            raw = raw.astype(np.int64)
        order = np.argsort(raw, kind="stable")
        raw = raw[order]
        if raw.size > 1 and np.any(raw[1:] == raw[:-1]):
            dup = raw[1:][raw[1:] == raw[:-1]][0]
            raise ValueError(f"raw id {plain_repr(dup)} appears twice in an IdMap")
        self.raw = raw
        self.raw.setflags(write=False)

    @classmethod
    def from_values(cls, values):
        """Build a map from every distinct raw id in ``values`` and return ``(map, indices)``."""
        values = np.asarray(values)
        if values.dtype == object:
            values = values.astype(str)
        uniq, inverse = np.unique(values, return_inverse=True)
        idmap = cls.__new__(cls)
        idmap.raw = uniq.astype(np.int64) if uniq.dtype.kind in "iu" else uniq
        idmap.raw.setflags(write=False)
        return idmap, inverse.astype(np.int32).ravel()

    def __len__(self):
        return int(self.raw.size)

    def __eq__(self, other):
        return isinstance(other, IdMap) and self.raw.dtype.kind == other.raw.dtype.kind \
            and np.array_equal(self.raw, other.raw)

    def __repr__(self):
        head = ", ".join(repr(x.item() if hasattr(x, "item") else x) for x in self.raw[:3])
        more = ", ..." if len(self) > 3 else ""
        return f"IdMap(n={len(self)}, raw=[{head}{more}])"

    def to_raw(self, index):
        """Raw id(s) of index/indices."""
        index = np.asarray(index)
        if np.any((index < 0) | (index >= len(self))):
            raise IndexError(f"index out of range for an IdMap of {len(self)} ids")
        out = self.raw[index]
        return out.item() if out.ndim == 0 else out

    def _coerce(self, raw_ids):
        """``(ids, usable)``: the ids in this map's type (1-D), and which of them could be one
        of ours. Integer maps take integer-valued floats (196.0) and integer strings ("196"),
        each id on its own: one id that is not an integer ("abc", 1.5) misses alone."""
        ids = np.atleast_1d(np.asarray(raw_ids))
        if ids.dtype == object:
            ids = ids.astype(str)
        usable = np.ones(ids.shape, dtype=bool)
        if self.raw.dtype.kind in "iu" and ids.dtype.kind in "USf":
            if ids.dtype.kind == "f":
                usable = np.isfinite(ids) & (ids == np.round(ids))
                return np.where(usable, ids, 0).astype(np.int64), usable
            try:
                return ids.astype(np.int64), usable
            except (ValueError, OverflowError):
                out = np.zeros(ids.shape, dtype=np.int64)
                for k, s in enumerate(ids):
                    out[k], usable[k] = _as_integer(s)
                return out, usable
        if self.raw.dtype.kind in "US" and ids.dtype.kind in "iuf":
            if ids.dtype.kind == "f":  # 196.0 is the id "196"
                ids = np.array([str(int(v)) if np.isfinite(v) and v == round(v) else str(v) for v in ids])
            ids = ids.astype(str)
        return ids, usable

    def to_index(self, raw_ids, missing="raise", what="id"):
        """Index(es) of raw id(s).

        Parameters
        ----------
        raw_ids : scalar or array-like
        missing : {"raise", "ignore"}
            What to do with a raw id that is not in the map: raise a KeyError
            naming it, or return -1 for it.
        """
        scalar = np.ndim(raw_ids) == 0
        ids, usable = self._coerce(raw_ids)
        if len(self) == 0:
            pos = np.zeros(ids.shape, dtype=np.int64)
            found = np.zeros(ids.shape, dtype=bool)
        elif ids.dtype.kind != self.raw.dtype.kind and not (
                ids.dtype.kind in "iu" and self.raw.dtype.kind in "iu"):
            pos = np.zeros(ids.shape, dtype=np.int64)
            found = np.zeros(ids.shape, dtype=bool)
        else:
            pos = np.searchsorted(self.raw, ids)
            pos = np.minimum(pos, len(self) - 1)
            found = (self.raw[pos] == ids) & usable
        if not found.all() and missing == "raise":
            bad = np.asarray(raw_ids, dtype=object).ravel()[np.flatnonzero(~found)[0]]  # as given
            raise KeyError(f"unknown {what} {plain_repr(bad)}: "
                           f"it is not among the {len(self)} known {what}s")
        out = np.where(found, pos, -1).astype(np.int32)
        return int(out[0]) if scalar else out

    def __contains__(self, raw_id):
        return self.to_index(raw_id, missing="ignore") >= 0

    def reindex(self, index, source):
        """This map's indices of the ids that the map ``source`` numbers ``index``
        (-1 for an id this map lacks); ``index`` itself when the two maps are equal."""
        if source is self or source == self:
            return index
        return self.to_index(source.raw[index], missing="ignore")



def _nonfinite(bad, values, row):
    """'1 rating is NaN or infinite (row 3: inf)' / 'N ratings are ... (first at row 3: nan)'."""
    n = int(bad.sum())
    where = f"row {row}" if n == 1 else f"first at row {row}"
    return (f"{n} rating{'s are' if n > 1 else ' is'} NaN or infinite "
            f"({where}: {plain_repr(values[row])})")

@dataclass(frozen=True)
class RatingScale:
    """The range of ratings, and their step when they are discrete.

    ``step`` is None for a continuous scale. ``levels`` lists the discrete
    values (1, 2, ..., 5 or 0.5, 1.0, ..., 5.0).
    """

    low: float
    high: float
    step: float | None = None

    def __post_init__(self):
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"a rating scale needs finite low <= high; got {self.low}..{self.high}")
        if self.step is not None and not self.step > 0:
            raise ValueError(f"a rating scale step must be > 0; got {self.step}")

    @property
    def levels(self):
        if self.step is None:
            raise DataError(
                f"the rating scale {self.low}..{self.high} is continuous, so it has no levels; "
                "pass a discrete RatingScale(low, high, step) to the loader")
        n = int(round((self.high - self.low) / self.step)) + 1
        return self.low + self.step * np.arange(n)

    def clip(self, predictions):
        return np.clip(predictions, self.low, self.high)

    @classmethod
    def infer(cls, values):
        """Range of ``values``; the step is the finest grid in {1, 0.5, 0.25, 0.1} that fits them all."""
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            raise DataError("cannot infer a rating scale from no ratings")
        low, high = float(values.min()), float(values.max())
        step = None
        for s in (1.0, 0.5, 0.25, 0.1):
            k = (values - low) / s
            if np.all(np.abs(k - np.round(k)) < 1e-6):
                step = s
                break
        return cls(low, high, step)

    def __str__(self):
        step = f" step {self.step:g}" if self.step is not None else " continuous"
        return f"{self.low:g}..{self.high:g}{step}"


def _frozen(a):
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Ratings:
    """Ratings as parallel index arrays with id maps, scale and optional metadata.

    Build one with :meth:`from_arrays` (raw ids) or :meth:`from_dataframe`, or
    get one from a loader in :mod:`mfcore.data`.

    Attributes
    ----------
    users, items : ndarray of int32, shape (n,)
    values : ndarray of float64 (or float32 when built from float32), shape (n,)
    user_map, item_map : IdMap
    scale : RatingScale
    timestamps : ndarray of int64 (or int32 when built from int32) or None
        Unix seconds.
    item_info : pandas.DataFrame or None
        Indexed by raw item id; columns such as ``title``, ``genres``, ``year``.
    name : str
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    user_map: IdMap
    item_map: IdMap
    scale: RatingScale
    timestamps: np.ndarray | None = None
    item_info: object = None
    name: str = "ratings"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        users = np.ascontiguousarray(self.users, dtype=np.int32)
        items = np.ascontiguousarray(self.items, dtype=np.int32)
        # float32 ratings stay float32 (half the memory for 100M ratings); all
        # other dtypes become float64.
        vdt = np.float32 if np.asarray(self.values).dtype == np.float32 else np.float64
        values = np.ascontiguousarray(self.values, dtype=vdt)
        n = users.shape[0]
        if users.ndim != 1 or items.shape != (n,) or values.shape != (n,):
            raise ValueError(
                f"users, items and values must be 1-D arrays of one length; got shapes "
                f"{np.shape(self.users)}, {np.shape(self.items)}, {np.shape(self.values)}")
        # min/max are NaN or inf exactly when some value is: no n-sized temporary
        # (the mask would cost 200 MB on the 100M-rating Netflix data).
        if n and not (np.isfinite(values.min()) and np.isfinite(values.max())):
            bad = ~np.isfinite(values)
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{self.name}: {_nonfinite(bad, values, row)}; drop or impute them "
                            "before building Ratings")
        for arr, m, what in ((users, self.user_map, "user"), (items, self.item_map, "item")):
            if n and (arr.min() < 0 or arr.max() >= len(m)):
                row = int(np.flatnonzero((arr < 0) | (arr >= len(m)))[0])
                raise DataError(
                    f"{self.name}: {what} index {int(arr[row])} at row {row} is out of range for "
                    f"n_{what}s={len(m)}; indices must be in [0, n_{what}s). Build Ratings with "
                    f"Ratings.from_arrays(raw ids) so the IdMap is made for you")
        object.__setattr__(self, "users", _frozen(users))
        object.__setattr__(self, "items", _frozen(items))
        object.__setattr__(self, "values", _frozen(values))
        if self.timestamps is not None:
            tdt = np.int32 if np.asarray(self.timestamps).dtype == np.int32 else np.int64
            ts = np.ascontiguousarray(self.timestamps, dtype=tdt)
            if ts.shape != (n,):
                raise ValueError(f"timestamps must have shape ({n},); got {ts.shape}")
            object.__setattr__(self, "timestamps", _frozen(ts))

    # ------------------------------------------------------------------ build
    @classmethod
    def from_arrays(cls, users, items, values, *, timestamps=None, scale=None,
                    user_map=None, item_map=None, name="ratings", item_info=None, duplicates="warn"):
        """Build from raw ids. New maps are made unless ``user_map``/``item_map`` are given
        (then every raw id must be in them).

        ``duplicates``: what to do when a (user, item) pair occurs in several rows. "warn"
        (the default) keeps every row, each counting as a rating of its own in training and
        evaluation, and says so once; "keep" does the same silently; "raise" refuses them;
        "first"/"last" keep that occurrence (at its own position); "mean" keeps the first
        occurrence with the mean of the pair's ratings (as :func:`mfcore.data.read_ratings`).
        """
        users, items = np.asarray(users), np.asarray(items)
        values = np.asarray(values)
        if values.dtype != np.float32:
            values = values.astype(np.float64)
        if not (users.shape == items.shape == values.shape) or users.ndim != 1:
            raise ValueError(
                f"users, items and values must be 1-D and of one length; got shapes "
                f"{users.shape}, {items.shape}, {values.shape}")
        for ids, what in ((users, "user"), (items, "item")):
            missing = (np.isnan(ids) if ids.dtype.kind == "f" else
                       np.array([x is None or x != x for x in ids], bool) if ids.dtype.kind == "O"
                       else np.zeros(ids.shape, bool))
            if missing.any():
                raise DataError(f"{name}: {int(missing.sum())} {what} id(s) are missing (NaN or None), the "
                                f"first at position {int(np.flatnonzero(missing)[0])}; drop those ratings first")
        if user_map is None:
            user_map, u = IdMap.from_values(users)
        else:
            u = user_map.to_index(users, what="user")
        if item_map is None:
            item_map, i = IdMap.from_values(items)
        else:
            i = item_map.to_index(items, what="item")
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name}: {_nonfinite(bad, values, row)}; drop or impute them first")
        if duplicates not in ARRAY_DUPLICATE_POLICIES:
            raise ValueError(f"The 'duplicates' parameter of Ratings.from_arrays must be one of "
                             f"{', '.join(map(repr, ARRAY_DUPLICATE_POLICIES))}. Got {duplicates!r} instead.")

        def describe(first, second, n_repeats):
            said = (f"{name}: {n_repeats} rating(s) repeat a (user, item) pair of an earlier row, the first "
                    f"user {plain_repr(users[second])} and item {plain_repr(items[second])} at positions "
                    f"{first} and {second}")
            if duplicates == "raise":
                raise DataError(f"{said}; pass duplicates='first', 'last' or 'mean' to keep one rating per "
                                "pair, or 'keep' to keep them all")
            warnings.warn(f"{said}: each counts as a rating of its own in training and evaluation; pass "
                          "duplicates='first', 'last' or 'mean' to keep one rating per pair, or 'keep' to "
                          "keep them all without this warning", UserWarning, stacklevel=4)

        if duplicates != "keep" and values.size:
            keep, values = resolve_duplicates(u, i, max(len(item_map), 1), values, duplicates, describe)
            if keep is not None:
                u, i, values = u[keep], i[keep], values[keep]
                if timestamps is not None:
                    timestamps = np.asarray(timestamps)[keep]
        if scale is None:
            scale = RatingScale.infer(values) if values.size else RatingScale(0.0, 0.0)
        elif values.size and (values.min() < scale.low or values.max() > scale.high):
            row = int(np.flatnonzero((values < scale.low) | (values > scale.high))[0])
            raise DataError(f"{name}: the rating {values[row]:g} at position {row} is outside the scale "
                            f"{scale}; fix it, or pass scale=None to infer the scale from the values")
        return cls(u, i, values, user_map, item_map, scale, timestamps=timestamps,
                   name=name, item_info=item_info)

    @classmethod
    def from_dataframe(cls, df, user_col="user", item_col="item", rating_col="rating",
                       timestamp_col=None, **kwargs):
        """Build from a pandas DataFrame with raw ids (see :meth:`from_arrays`)."""
        for c in (user_col, item_col, rating_col) + ((timestamp_col,) if timestamp_col else ()):
            if c not in df.columns:
                raise DataError(f"the DataFrame has no column {c!r} (columns: {list(df.columns)}); "
                                f"pass the right name as user_col/item_col/rating_col/timestamp_col")
        ts = df[timestamp_col].to_numpy() if timestamp_col else None
        return cls.from_arrays(df[user_col].to_numpy(), df[item_col].to_numpy(),
                               df[rating_col].to_numpy(dtype=np.float64), timestamps=ts, **kwargs)

    # -------------------------------------------------------------- properties
    def __len__(self):
        return int(self.values.shape[0])

    @property
    def n_ratings(self):
        return len(self)

    @property
    def n_users(self):
        return len(self.user_map)

    @property
    def n_items(self):
        return len(self.item_map)

    def user_counts(self):
        """Ratings per user index, shape (n_users,)."""
        return np.bincount(self.users, minlength=self.n_users)

    def item_counts(self):
        """Ratings per item index, shape (n_items,)."""
        return np.bincount(self.items, minlength=self.n_items)

    @property
    def global_mean(self):
        if len(self) == 0:
            raise DataError(f"{self.name} is empty, so it has no mean rating")
        return float(self.values.mean(dtype=np.float64))

    def __repr__(self):
        return (f"Ratings(name={self.name!r}, n_ratings={len(self)}, n_users={self.n_users}, "
                f"n_items={self.n_items}, scale={self.scale})")

    def summary(self):
        """A dict of counts for printing and JSON output."""
        uc, ic = self.user_counts(), self.item_counts()
        return {"name": self.name, "n_ratings": len(self), "n_users": self.n_users,
                "n_items": self.n_items, "n_users_with_ratings": int((uc > 0).sum()),
                "n_items_with_ratings": int((ic > 0).sum()),
                "scale": {"low": self.scale.low, "high": self.scale.high, "step": self.scale.step},
                "density": len(self) / max(1, self.n_users * self.n_items)}

    # -------------------------------------------------------------- subsets
    def subset(self, rows, name=None):
        """The ratings at ``rows`` (indices or boolean mask), sharing this object's maps."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        elif rows.size == 0:
            rows = rows.astype(np.intp)
        ts = None if self.timestamps is None else self.timestamps[rows]
        return replace(self, users=self.users[rows], items=self.items[rows],
                       values=self.values[rows], timestamps=ts,
                       name=name or self.name, meta=dict(self.meta))

    def compact(self):
        """Drop users and items with no rating here and re-index (new, smaller maps)."""
        uk = np.unique(self.users)
        ik = np.unique(self.items)
        unew = np.full(self.n_users, -1, np.int32)
        unew[uk] = np.arange(uk.size)
        inew = np.full(self.n_items, -1, np.int32)
        inew[ik] = np.arange(ik.size)
        umap = IdMap.__new__(IdMap)
        umap.raw = self.user_map.raw[uk]
        imap = IdMap.__new__(IdMap)
        imap.raw = self.item_map.raw[ik]
        return replace(self, users=unew[self.users], items=inew[self.items],
                       user_map=umap, item_map=imap, meta=dict(self.meta))

    def remap(self, user_map, item_map):
        """Express these ratings in other maps. Returns ``(users, items)`` int32 arrays,
        -1 where a raw id is not in the other map (an unknown user or item)."""
        u = user_map.to_index(self.user_map.raw[self.users], missing="ignore")
        i = item_map.to_index(self.item_map.raw[self.items], missing="ignore")
        return u, i

    # -------------------------------------------------------------- export
    def to_dataframe(self, raw_ids=True):
        """A DataFrame with columns user, item, rating (and timestamp)."""
        import pandas as pd

        if raw_ids:
            cols = {"user": self.user_map.raw[self.users], "item": self.item_map.raw[self.items]}
        else:
            cols = {"user": self.users, "item": self.items}
        cols["rating"] = self.values
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    def csr_structure(self):
        """``(indptr, indices)`` of :meth:`to_csr`'s matrices, without their values.

        ``indices[indptr[u]:indptr[u + 1]]`` are the items user ``u`` rated, in
        increasing order: int64 ``(n_users + 1,)`` and int32 ``(n,)``. Cheaper
        than :meth:`to_csr` (no float copy of the ratings, no mask): on 25M
        ratings the peak is the int64 sort order plus the int32 indices.
        """
        indptr, order = self._csr_order()
        return indptr, self.items[order].astype(np.int32, copy=False)

    def _csr_order(self):
        """``(indptr, order)``: row pointers and the permutation that sorts by (user, item)."""
        order = np.lexsort((self.items, self.users))  # (n,) int64
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.users, minlength=self.n_users), out=indptr[1:])
        return indptr, order

    def to_csr(self, dtype=np.float64):
        """Users x items CSR matrix of ratings and its observed-mask.

        Returns ``(R, mask)``: ``R`` holds the ratings (an explicit 0 stays
        stored: a rating of 0 is a rating), ``mask`` has the same sparsity
        structure with value 1 wherever a rating exists. Use ``mask``, never
        ``R != 0``, to tell observed from missing.
        """
        from scipy import sparse

        shape = (self.n_users, self.n_items)
        indptr, order = self._csr_order()
        indices = self.items[order].astype(np.int32, copy=False)
        R = sparse.csr_matrix((self.values[order].astype(dtype), indices, indptr), shape=shape)
        mask = sparse.csr_matrix((np.ones(len(self), dtype=dtype), indices.copy(), indptr.copy()),
                                 shape=shape)
        return R, mask

    def item_title(self, item_index):
        """Title of an item index, or its raw id as text when there are no titles."""
        raw = self.item_map.to_raw(item_index)
        info = self.item_info
        if info is not None and "title" in getattr(info, "columns", ()) and raw in info.index:
            return str(info.at[raw, "title"])
        return str(raw)
