"""MovieLens-like synthetic ratings with a known answer.

:func:`make_ratings` draws who rates what from power-law (Zipf-like) user
activity and item popularity, and how much from a planted biased low-rank
model plus Gaussian noise, rounded and clipped to a rating scale::

    r_ui = round_scale(mu + b_u + b_i + p_u . q_i + eps),   eps ~ N(0, noise^2)

The ground truth (mu, b_u, b_i, P, Q, noise) is kept in ``ratings.meta["truth"]``,
so a model's error can be compared with the best achievable one. Sizes go up
to Netflix's 100M ratings: pairs are drawn in chunks and de-duplicated by
sorting int64 keys ``u * n_items + i``. :func:`make_like` builds data the size
of a MovieLens or Netflix release (:data:`PRESETS`).
"""
from __future__ import annotations

import numpy as np

from .._random import spawn
from .._validation import check_dtype, check_number, plain_repr
from ..exceptions import DataError
from .ratings import IdMap, Ratings, RatingScale

__all__ = ["make_ratings", "make_like", "synthetic_preset", "PRESETS"]

#: Sizes and scales of public data sets (users and items with at least one rating).
PRESETS = {
    "100k": dict(n_users=943, n_items=1682, n_ratings=100_000, scale=(1, 5, 1)),
    "1m": dict(n_users=6040, n_items=3706, n_ratings=1_000_209, scale=(1, 5, 1)),
    "10m": dict(n_users=69_878, n_items=10_677, n_ratings=10_000_054, scale=(0.5, 5, 0.5)),
    "20m": dict(n_users=138_493, n_items=26_744, n_ratings=20_000_263, scale=(0.5, 5, 0.5)),
    "25m": dict(n_users=162_541, n_items=59_047, n_ratings=25_000_095, scale=(0.5, 5, 0.5)),
    "100m": dict(n_users=480_189, n_items=17_770, n_ratings=100_480_507, scale=(1, 5, 1)),
}
_CHUNK = 1 << 22  # pairs drawn per chunk (bounds temporary memory)
_VCHUNK = 1 << 20  # ratings per chunk of values: the (c, K) gathers of P and Q dominate
_T0, _T1 = 946_684_800, 1_577_836_800  # 2000-01-01 and 2020-01-01, Unix seconds


def synthetic_preset(name):
    """The :func:`make_ratings` keywords of a preset: "100k", "1m", "10m", "20m", "25m", "100m"
    (the MovieLens releases; "100m" is the Netflix Prize)."""
    key = str(name).lower()
    if key not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[key])


def make_like(name, rng=None, **overrides):
    """Synthetic ratings the size of a preset (:func:`synthetic_preset`); keywords override it."""
    kwargs = synthetic_preset(name)
    kwargs.update(overrides)
    kwargs.setdefault("name", f"synthetic-{str(name).lower()}")
    return make_ratings(rng=rng, **kwargs)


def _activity(n, alpha, total, cap, rng):
    """Sampling probabilities: rank^-alpha over a random ranking, no expected count above cap."""
    e = (rng.permutation(n) + 1.0) ** -alpha
    e *= total / e.sum()
    for _ in range(100):  # water-filling: cap, then hand the excess to the others
        over = e > cap
        if not over.any():
            break
        excess = float((e[over] - cap).sum())
        e[over] = cap
        e[~over] += excess * e[~over] / e[~over].sum()
    return e / e.sum()


def _draw_index(p, m, rng, shuffle=True):
    """``m`` i.i.d. draws from ``p``: multinomial counts, repeated, then shuffled.

    Much faster than inverse-CDF search at these sizes. Without ``shuffle`` the
    draws come sorted, which is enough when they are paired with shuffled ones.
    """
    idx = np.repeat(np.arange(p.size), rng.multinomial(m, p))
    if shuffle:
        rng.shuffle(idx)
    return idx


def _unique_sorted(a):
    """Sort ``a`` in place and return its distinct values."""
    a.sort()
    keep = np.empty(a.size, dtype=bool)
    keep[:1] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _in_sorted(x, ref):
    if ref.size == 0:
        return np.zeros(x.size, dtype=bool)
    pos = np.minimum(np.searchsorted(ref, x), ref.size - 1)
    return ref[pos] == x


def _sample_pairs(n_users, n_items, n_ratings, p_u, p_i, rng):
    """Exactly ``n_ratings`` distinct keys ``u * n_items + i``, sorted.

    First one pair per user and one per item (so none is left without a
    rating), then independent (user, item) draws, de-duplicated, topped up
    until the count is reached; the last top-up is subsampled to hit it exactly.
    """
    def draw(m):
        parts = []
        for start in range(0, m, _CHUNK):
            c = min(_CHUNK, m - start)
            u = _draw_index(p_u, c, rng, shuffle=False)
            parts.append(u * n_items + _draw_index(p_i, c, rng))
        return parts

    seed = np.r_[np.arange(n_users) * n_items + _draw_index(p_i, n_users, rng),
                 _draw_index(p_u, n_items, rng) * n_items + np.arange(n_items)]
    keys = _unique_sorted(np.concatenate([seed.astype(np.int64)] +
                                         draw(max(0, n_ratings - n_users - n_items))))
    extra = np.empty(0, dtype=np.int64)
    need, hit_rate, rounds = n_ratings - keys.size, keys.size / max(1, n_ratings), 0
    while need > 0:
        rounds += 1
        if rounds > 200 or hit_rate < 1e-4:
            raise DataError(f"make_ratings: could not place {n_ratings} distinct ratings "
                            f"({need} missing); lower n_ratings or user_alpha/item_alpha")
        m = int(min(_CHUNK, max(1024, 1.2 * need / hit_rate)))
        cand = _unique_sorted(np.concatenate(draw(m)))
        cand = cand[~_in_sorted(cand, keys) & ~_in_sorted(cand, extra)]
        hit_rate = max(cand.size / m, 1e-6)
        if cand.size > need:
            cand = rng.choice(cand, need, replace=False)
        extra = np.sort(np.r_[extra, cand])
        need -= cand.size
    if extra.size:
        keys = np.concatenate([keys, extra])
        keys.sort()
    return keys


def _check_scale(scale):
    if scale is None or isinstance(scale, RatingScale):
        return scale
    try:
        low, high, step = scale
        return RatingScale(float(low), float(high), None if step is None else float(step))
    except (TypeError, ValueError) as err:
        raise ValueError("The 'scale' parameter of make_ratings must be None, a RatingScale or a "
                         f"(low, high, step) tuple. Got {plain_repr(scale)} instead.") from err


def make_ratings(n_users=1000, n_items=500, n_ratings=50_000, n_factors=10, noise=0.5,
                 scale=(1, 5, 1), user_alpha=0.7, item_alpha=1.0, rng=None, dtype=np.float64,
                 timestamps=False, name="synthetic"):
    """Draw MovieLens-like ratings from a planted biased low-rank model.

    Parameters
    ----------
    n_users, n_items : int
        Sizes of the id maps; raw ids are ``0..n-1`` (raw id = index). Every
        user and every item gets at least one rating.
    n_ratings : int
        Exact number of ratings, at least ``n_users + n_items`` and at most half
        of ``n_users * n_items``. No (user, item) pair repeats.
    n_factors : int, default 10
        Rank K of the planted factors P (n_users, K) and Q (n_items, K).
    noise : float >= 0, default 0.5
        Standard deviation of the Gaussian noise added before rounding.
    scale : (low, high, step), RatingScale or None, default (1, 5, 1)
        Values are rounded to the step and clipped to [low, high]; ``step=None``
        only clips; ``scale=None`` keeps the continuous values.
    user_alpha, item_alpha : float >= 0, default 0.7 and 1.0
        Power-law exponents: the user (item) of activity rank r is drawn with
        weight r^-alpha (0 = uniform). Expected counts are capped at half the
        other side's size, and repeated pairs are dropped, which flattens the
        head; at ML-100k's size the defaults give about what ML-100k has (its
        top 10% of users hold 32% of the ratings, of items 43%; the generator's
        shares are tested within 0.02 of those in ``tests/test_synthetic.py``).
    rng : None, int or numpy.random.Generator
        Split into independent streams for structure, pairs, truth, noise and
        timestamps, so changing ``noise`` keeps the same pairs and factors.
    dtype : float32 or float64, default float64
        Precision of the truth arrays and of the value computation (the
        Ratings values are float64 either way).
    timestamps : bool, default False
        Add Unix-second timestamps: each user starts at a uniform date in
        2000-2019 and rates at exponentially spread times after it (90-day mean).
    name : str

    Returns
    -------
    Ratings
        Rows sorted by (user, item), as in the MovieLens 20M/25M files. Its
        ``meta["truth"]`` is ``dict(mu, user_bias, item_bias, P, Q, noise)``: the
        noiseless rating is ``mu + user_bias[u] + item_bias[i] + P[u] @ Q[i]``.
    """
    who = "make_ratings"
    n_users = check_number(n_users, "n_users", who, kind="int", low=1, low_inclusive=True)
    n_items = check_number(n_items, "n_items", who, kind="int", low=1, low_inclusive=True)
    n_ratings = check_number(n_ratings, "n_ratings", who, kind="int", low=1, low_inclusive=True)
    n_factors = check_number(n_factors, "n_factors", who, kind="int", low=1, low_inclusive=True)
    noise = check_number(noise, "noise", who, low=0, low_inclusive=True)
    user_alpha = check_number(user_alpha, "user_alpha", who, low=0, low_inclusive=True)
    item_alpha = check_number(item_alpha, "item_alpha", who, low=0, low_inclusive=True)
    dtype = check_dtype(dtype, who)
    scale = _check_scale(scale)
    if n_ratings < n_users + n_items:
        raise ValueError(f"make_ratings: n_ratings={n_ratings} is below n_users + n_items = "
                         f"{n_users + n_items}; every user and item gets a rating, so raise "
                         "n_ratings or lower n_users/n_items")
    if n_ratings > n_users * n_items / 2:
        raise ValueError(f"make_ratings: n_ratings={n_ratings} is more than half of the "
                         f"{n_users} x {n_items} = {n_users * n_items} possible pairs; sparse "
                         "power-law sampling needs density <= 0.5, so raise n_users or n_items")
    g_struct, g_pairs, g_truth, g_noise, g_time = spawn(rng, 5)

    p_u = _activity(n_users, user_alpha, n_ratings, n_items / 2, g_struct)
    p_i = _activity(n_items, item_alpha, n_ratings, n_users / 2, g_struct)
    keys = _sample_pairs(n_users, n_items, n_ratings, p_u, p_i, g_pairs)
    users = np.empty(n_ratings, dtype=np.int32)
    items = np.empty(n_ratings, dtype=np.int32)
    for s in range(0, n_ratings, _CHUNK):
        users[s:s + _CHUNK], items[s:s + _CHUNK] = np.divmod(keys[s:s + _CHUNK], n_items)
    del keys

    low, high = (1.0, 5.0) if scale is None else (scale.low, scale.high)
    width = (high - low) / 4  # 1 on a 1-5 scale
    s_f = np.sqrt(0.6 * width / np.sqrt(n_factors))  # so that p_u . q_i has std 0.6 * width
    truth = {"mu": (low + high) / 2 + width / 2,
             "user_bias": (0.4 * width * g_truth.standard_normal(n_users)).astype(dtype),
             "item_bias": (0.5 * width * g_truth.standard_normal(n_items)).astype(dtype),
             "P": (s_f * g_truth.standard_normal((n_users, n_factors))).astype(dtype),
             "Q": (s_f * g_truth.standard_normal((n_items, n_factors))).astype(dtype),
             "noise": noise}
    values = np.empty(n_ratings, dtype=np.float64)
    for s in range(0, n_ratings, _VCHUNK):
        u, i = users[s:s + _VCHUNK], items[s:s + _VCHUNK]
        x = truth["user_bias"][u] + truth["item_bias"][i]  # (c,)
        x += np.einsum("ij,ij->i", truth["P"][u], truth["Q"][i])  # (c,)
        x += dtype.type(truth["mu"])
        x += dtype.type(noise) * g_noise.standard_normal(u.size, dtype=dtype)  # (c,)
        if scale is not None and scale.step is not None:
            x = scale.low + scale.step * np.round((x - scale.low) / scale.step)
        values[s:s + _VCHUNK] = x if scale is None else np.clip(x, scale.low, scale.high)
    if scale is None:
        scale = RatingScale(float(values.min()), float(values.max()), None)

    ts = None
    if timestamps:
        start = g_time.integers(_T0, _T1, n_users)
        ts = np.empty(n_ratings, dtype=np.int64)
        for s in range(0, n_ratings, _CHUNK):
            u = users[s:s + _CHUNK]
            gap = g_time.exponential(90 * 86400.0, u.size).astype(np.int64)
            ts[s:s + _CHUNK] = np.minimum(start[u] + gap, _T1 - 1)
    meta = {"truth": truth, "generator": {
        "n_factors": n_factors, "noise": noise, "user_alpha": user_alpha,
        "item_alpha": item_alpha}}
    return Ratings(users, items, values, IdMap(np.arange(n_users)), IdMap(np.arange(n_items)),
                   scale, timestamps=ts, name=name, meta=meta)
