"""Tests of mfcore.data.synthetic: sizes, uniqueness, seeds, scale, shape, planted truth."""
import numpy as np
import pytest

from mfcore import RatingScale
from mfcore.data.synthetic import PRESETS, make_like, make_ratings, synthetic_preset


def keys(r):
    return r.users.astype(np.int64) * r.n_items + r.items


def top_share(counts, top=0.1):
    c = np.sort(counts)[::-1]
    return c[:max(1, int(len(c) * top))].sum() / c.sum()


@pytest.mark.parametrize("n_users, n_items, n_ratings", [(1000, 500, 50_000), (7, 5, 17),
                                                         (60, 50, 1500), (3000, 40, 5000)])
def test_exact_size_unique_pairs_everyone_rated(n_users, n_items, n_ratings):
    r = make_ratings(n_users=n_users, n_items=n_items, n_ratings=n_ratings, rng=0)
    assert (len(r), r.n_users, r.n_items) == (n_ratings, n_users, n_items)
    k = keys(r)
    assert np.all(np.diff(k) > 0)  # sorted by (user, item) and no pair twice
    assert r.user_counts().min() >= 1 and r.item_counts().min() >= 1
    assert r.users.dtype == np.int32 and r.values.dtype == np.float64


def test_seeds():
    a, b = make_ratings(rng=5), make_ratings(rng=5)
    c = make_ratings(rng=6)
    assert np.array_equal(keys(a), keys(b)) and np.array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.meta["truth"]["P"], b.meta["truth"]["P"])
    assert not np.array_equal(keys(a), keys(c))
    assert not np.allclose(a.meta["truth"]["Q"], c.meta["truth"]["Q"])


def test_noise_stream_is_independent_of_pairs_and_truth():
    a, b = make_ratings(rng=3, noise=0.5), make_ratings(rng=3, noise=0.1)
    assert np.array_equal(keys(a), keys(b))
    np.testing.assert_array_equal(a.meta["truth"]["item_bias"], b.meta["truth"]["item_bias"])
    assert not np.array_equal(a.values, b.values)


@pytest.mark.parametrize("scale", [(1, 5, 1), (0.5, 5, 0.5), RatingScale(1, 10, 1)])
def test_values_on_the_scale(scale):
    r = make_ratings(n_ratings=20_000, rng=0, scale=scale)
    s = r.scale
    assert r.values.min() >= s.low and r.values.max() <= s.high
    assert set(np.unique(r.values)) <= set(s.levels)
    assert len(np.unique(r.values)) == len(s.levels)  # every level is used
    mean = r.values.mean()
    assert s.low + 0.4 * (s.high - s.low) < mean < s.low + 0.8 * (s.high - s.low)


def test_clip_only_scale():
    r = make_ratings(n_ratings=20_000, rng=0, scale=(1, 5, None), noise=1.0)
    assert r.values.min() == 1.0 and r.values.max() == 5.0  # some clipped at each end
    assert len(np.unique(r.values)) > 1000  # not rounded


def truth_prediction(r):
    t = r.meta["truth"]
    u, i = r.users, r.items
    return t["mu"] + t["user_bias"][u] + t["item_bias"][i] + np.sum(t["P"][u] * t["Q"][i], axis=1)


def test_truth_is_recoverable_continuous():
    r = make_ratings(n_ratings=50_000, rng=1, scale=None, noise=0.3)
    resid = r.values - truth_prediction(r)
    assert np.sqrt(np.mean(resid ** 2)) == pytest.approx(0.3, rel=0.02)
    assert abs(resid.mean()) < 0.01
    signal = truth_prediction(r)
    assert 0.7 < signal.std() < 1.3  # the planted part carries a rating-sized signal


def test_truth_without_noise_is_exact():
    r = make_ratings(n_ratings=5000, rng=2, scale=None, noise=0.0)
    np.testing.assert_allclose(r.values, truth_prediction(r), rtol=1e-12, atol=1e-12)


def test_truth_on_rounded_data():
    r = make_ratings(n_ratings=50_000, rng=1, noise=0.5)
    err = np.sqrt(np.mean((r.values - np.clip(truth_prediction(r), 1, 5)) ** 2))
    # rounding adds about 1/12 of variance: sqrt(0.25 + 0.083) = 0.58; clipping removes a little
    assert 0.5 < err < 0.62
    assert np.sqrt(np.mean((r.values - r.values.mean()) ** 2)) > err + 0.3  # far better than mean


def test_float32():
    r = make_ratings(n_ratings=5000, rng=0, dtype=np.float32, scale=None)
    t = r.meta["truth"]
    assert t["P"].dtype == t["Q"].dtype == t["user_bias"].dtype == np.float32
    assert r.values.dtype == np.float64
    d = make_ratings(n_ratings=5000, rng=0, dtype=np.float64, scale=None)
    assert np.array_equal(keys(r), keys(d))
    # the truth is drawn in float64 and cast; the float32 noise comes from another algorithm
    np.testing.assert_allclose(t["P"], d.meta["truth"]["P"], rtol=1e-6)
    resid = r.values - truth_prediction(r)
    assert np.sqrt(np.mean(resid ** 2)) == pytest.approx(0.5, rel=0.05)


def test_power_law_shape():
    kw = dict(n_users=4000, n_items=2000, n_ratings=40_000, rng=0)
    skewed = make_ratings(**kw, item_alpha=1.0, user_alpha=0.7)
    flat = make_ratings(**kw, item_alpha=0.0, user_alpha=0.0)
    assert top_share(skewed.item_counts()) > 0.45
    assert top_share(skewed.user_counts()) > 0.25
    assert top_share(flat.item_counts()) < 0.16
    assert top_share(flat.user_counts()) < 0.16


def test_defaults_look_like_ml100k():
    r = make_like("100k", rng=0)
    assert (len(r), r.n_users, r.n_items) == (100_000, 943, 1682)
    # ML-100k: the top 10% of users hold 31.9% of the ratings, of items 42.7%
    assert top_share(r.user_counts()) == pytest.approx(0.319, abs=0.04)
    assert top_share(r.item_counts()) == pytest.approx(0.427, abs=0.04)


def test_timestamps():
    r = make_ratings(n_ratings=5000, rng=0, timestamps=True)
    assert r.timestamps.dtype == np.int64 and r.timestamps.shape == (5000,)
    assert r.timestamps.min() >= 946_684_800 and r.timestamps.max() < 1_577_836_800
    assert make_ratings(n_ratings=5000, rng=0).timestamps is None


def test_presets():
    assert set(PRESETS) == {"100k", "1m", "10m", "20m", "25m", "100m"}
    p = synthetic_preset("25M")
    assert (p["n_users"], p["n_items"], p["n_ratings"]) == (162_541, 59_047, 25_000_095)
    p["n_users"] = 1
    assert synthetic_preset("25m")["n_users"] == 162_541  # a copy is returned
    r = make_like("100k", rng=0, n_users=500, n_ratings=20_000)
    assert (len(r), r.n_users, r.name) == (20_000, 500, "synthetic-100k")
    with pytest.raises(ValueError, match="unknown synthetic preset 'ml-1b'; choose one of 100k"):
        synthetic_preset("ml-1b")


@pytest.mark.parametrize("kw, exc, match", [
    (dict(n_ratings=400_000), ValueError, "more than half"),
    (dict(n_ratings=1000), ValueError, "below n_users \\+ n_items"),
    (dict(n_users=0), ValueError, "'n_users' parameter of make_ratings must be an int >= 1"),
    (dict(n_factors=2.5), TypeError, "'n_factors' parameter of make_ratings"),
    (dict(noise=-1), ValueError, "'noise' parameter of make_ratings"),
    (dict(item_alpha=-0.5), ValueError, "'item_alpha' parameter of make_ratings"),
    (dict(scale=(1, 5)), ValueError, "'scale' parameter of make_ratings"),
    (dict(dtype=np.int32), ValueError, "'dtype' parameter of make_ratings"),
    (dict(rng="seed"), TypeError, "rng must be"),
])
def test_errors(kw, exc, match):
    with pytest.raises(exc, match=match):
        make_ratings(**kw)


def test_defaults_at_ml100k_size_have_its_concentration():
    # ML-100k itself: the top 10% of users hold 32% of the ratings, the top 10% of items 43%
    r = make_ratings(n_users=943, n_items=1682, n_ratings=100_000, rng=0)
    assert top_share(r.user_counts()) == pytest.approx(0.32, abs=0.02)
    assert top_share(r.item_counts()) == pytest.approx(0.43, abs=0.02)
