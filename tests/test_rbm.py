"""RBMs: energy and conditionals by enumeration, CD signs, Numba = NumPy, properties, ML-100k."""
import itertools
import json

import numpy as np
import pytest

from mfcore import DataError, DivergenceError, Ratings, RatingScale, make_model
from mfcore.engines import rbm_jit
from mfcore.models.autorec import csr_rows
from mfcore.models.rbm import BernoulliRBM, SoftmaxRBM, cd_batch_numpy, free_energy, visible_probs
import helpers
from helpers import F64, assert_loads_back, assert_scores_match_predict


def _energy(items, V, h, W, bv, bh):
    return -(np.einsum("nc,ncf,f->", V, W[items], h) + np.sum(V * bv[items]) + h @ bh)


def _tiny(rng, n_items, K, F):
    return rng.normal(0, 1, (n_items, K, F)), rng.normal(0, 1, (n_items, K)), rng.normal(0, 1, F)


def _configs(n_items, K):
    """Every visible configuration: one-hot blocks (softmax) or binary values (K = 1)."""
    eye = np.eye(K) if K > 1 else np.array([[0.0], [1.0]])
    return [np.array(c) for c in itertools.product(eye, repeat=n_items)]


@pytest.mark.parametrize("n_items,K,F", [(3, 1, 2), (2, 3, 2)])  # Bernoulli 3x2, softmax 2 items x 3 levels x 2
def test_free_energy_and_conditionals_by_enumeration(n_items, K, F):
    W, bv, bh = _tiny(np.random.default_rng(0), n_items, K, F)
    items = np.arange(n_items)
    hs = [np.array(h, float) for h in itertools.product([0, 1], repeat=F)]
    vs = _configs(n_items, K)
    joint = np.array([[np.exp(-_energy(items, V, h, W, bv, bh)) for h in hs] for V in vs])  # (nv, nh)
    for a, V in enumerate(vs):
        # (R3): F(v) = -log sum_h exp(-E(v, h))
        assert free_energy(items, V, W, bv, bh) == pytest.approx(-np.log(joint[a].sum()), rel=1e-12)
        # (R2): p(h_f = 1 | v) by enumeration
        p_h = joint[a] / joint[a].sum()
        brute = np.array([sum(p for p, h in zip(p_h, hs) if h[f] == 1) for f in range(F)])
        mine = 1 / (1 + np.exp(-(bh + np.einsum("nc,ncf->f", V, W))))
        np.testing.assert_allclose(mine, brute, **F64)
    for b, h in enumerate(hs):
        # (R1): p(v_ic = 1 | h) by enumeration over every visible configuration
        p_v = joint[:, b] / joint[:, b].sum()
        brute = sum(p * V for p, V in zip(p_v, vs))  # (n_items, K) marginals E[v_ic | h]
        mine = visible_probs(bv + np.einsum("icf,f->ic", W, h))
        np.testing.assert_allclose(mine, brute, **F64)


@pytest.mark.parametrize("fn", [rbm_jit.cd_batch, cd_batch_numpy], ids=["numba", "numpy"])
def test_cd1_gradient_signs_on_a_known_case(fn):
    """One user, one item rated at level 2 of 3; zero weights: p(v) uniform, p(h) = 1/2.
    U_v = 0.1 samples level 0, so the data level's bias must go up and level 0's down."""
    indptr, items, users = np.array([0, 1]), np.array([0]), np.array([0])
    V = np.array([[0.0, 0.0, 1.0]])
    W, bv, bh = np.zeros((1, 3, 2)), np.zeros((1, 3)), np.zeros(2)
    gW, gbv, gbh = np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)
    Uh, Uv = np.full((1, 1, 2), 0.9), np.array([[0.1]])  # h sample = 0; v sample = level 0
    fn(indptr, items, V, users, W, bv, bh, 1, Uh, Uv, np.arange(1.0, 4.0), gW, gbv, gbh)
    np.testing.assert_allclose(gbv, [[-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(gW[0, :, 0], [-0.5, 0.0, 0.5])  # v0 p0 - vk pk with p = 1/2
    np.testing.assert_allclose(gbh, 0.0)


@pytest.mark.parametrize("K", [1, 5])
@pytest.mark.parametrize("k", [1, 3])
def test_numba_and_numpy_give_the_same_numbers(K, k):
    rng = np.random.default_rng(0)
    n_users, n_items, F = 7, 9, 4
    mask = rng.random((n_users, n_items)) < 0.5
    u, i = np.nonzero(mask)
    indptr, items, lev = csr_rows(u.astype(np.int64), i.astype(np.int64), rng.integers(0, 5, u.size) * 1.0, n_users)
    V = np.eye(K)[lev.astype(int)] if K > 1 else rng.random((u.size, 1))
    W, bv, bh = _tiny(rng, n_items, K, F)
    users = np.array([3, 0, 6, 2])
    nnz = int(np.sum(indptr[users + 1] - indptr[users]))
    Uh, Uv = rng.random((k, users.size, F)), rng.random((k, nnz))
    levels = np.arange(1.0, K + 1)
    out = []
    for fn in (rbm_jit.cd_batch, cd_batch_numpy):
        g = [np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)]
        sse = fn(indptr, items, V, users, W, bv, bh, k, Uh, Uv, levels, *g)
        out.append((sse, g))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-12)
    for a, b in zip(out[0][1], out[1][1]):
        np.testing.assert_allclose(a, b, **F64)
    assert np.abs(out[0][1][0]).sum() > 0


@pytest.fixture(scope="module")
def planted_split():
    """conftest's planted split with the ratings rounded to whole stars (the RBMs model stars)."""
    return helpers.planted_split(stars=True)


@pytest.mark.parametrize("cls,shared", [(SoftmaxRBM, False), (SoftmaxRBM, True), (BernoulliRBM, True)])
def test_engines_agree_fit_repeatable_and_seed_matters(cls, shared, planted_split):
    train, _ = planted_split
    kw = dict(hidden_units=6, n_epochs=3, batch_size=8, cd_k_every=1, shared_weights=shared, rng=0)
    a = cls(**kw).fit(train)
    b = cls(engine="numpy", **kw).fit(train)
    c = cls(**kw).fit(train)
    for key, value in a._get_state().items():
        np.testing.assert_allclose(value, b._get_state()[key], **F64)
        np.testing.assert_array_equal(value, c._get_state()[key])
    assert not np.allclose(a.W_, cls(**dict(kw, rng=1)).fit(train).W_)
    assert [a.k_at(e) for e in (1, 2, 3, 9)] == [1, 3, 5, 5]


@pytest.mark.parametrize("name,kw", [("rbm", {}), ("rbm", {"item_based": False}),
                                     ("rbm", {"item_based": False, "shared_weights": False}), ("bernoulli-rbm", {})])
def test_learns_predicts_ratings_save_load(name, kw, planted_split, tmp_path):
    train, valid = planted_split
    m = make_model(name, hidden_units=10, n_epochs=8, rng=0, **kw).fit(train, valid)
    assert len(m.history_) == 8
    pred = m.predict(valid.users, valid.items)
    assert pred.min() >= 1.0 and pred.max() <= 5.0  # an expected rating, not a binary value
    assert_scores_match_predict(m, np.array([1, 4]))
    assert_loads_back(m, valid, tmp_path / "rbm.npz")
    assert m.predict(np.array([-1]), np.array([2]))[0] == pytest.approx(m.global_mean_ + m.fallback_item_bias_[2])


@pytest.mark.parametrize("item_based", [False, True])
def test_shared_weights_are_the_prior_mean_of_every_unit(item_based, planted_split):
    """(R6): a visible unit with no training rating gets no statistic, so the decay takes its
    own part A to 0 and its weights to the shared S; without sharing they decay to 0."""
    train, _ = planted_split
    unit = train.users if item_based else train.items  # visible units: users if item-based
    lonely = int(np.bincount(unit).argmax())
    train = train.subset(np.flatnonzero(unit != lonely))
    kw = dict(hidden_units=4, n_epochs=6, batch_size=8, lr=0.1, reg=2.0, item_based=item_based, rng=0)
    shared = SoftmaxRBM(shared_weights=True, **kw).fit(train)
    plain = SoftmaxRBM(shared_weights=False, **kw).fit(train)
    assert np.abs(shared.S_).max() > 0.01  # measured 0.027: S moved from its zero start
    np.testing.assert_allclose(shared.W_[lonely], shared.S_, atol=1e-6)
    np.testing.assert_allclose(plain.W_[lonely], 0.0, atol=1e-6)
    rated = np.setdiff1d(np.arange(shared.W_.shape[0]), [lonely])
    assert np.abs(shared.W_[rated] - shared.S_).max() > 1e-3  # rated units keep their own part


def test_levels_from_the_scale_and_continuous_error():
    half = Ratings.from_arrays([0, 0, 1, 1], [0, 1, 0, 1], [0.5, 5.0, 3.5, 2.0], scale=RatingScale(0.5, 5, 0.5))
    m = SoftmaxRBM(hidden_units=3, n_epochs=1, rng=0).fit(half)
    np.testing.assert_allclose(m.levels_, np.arange(1, 11) / 2)
    assert m.W_.shape == (2, 10, 3)
    cont = Ratings.from_arrays([0, 1], [0, 1], [1.25, 3.7], scale=RatingScale(1, 5, None))
    with pytest.raises(DataError, match="continuous"):
        SoftmaxRBM(n_epochs=1).fit(cont)
    BernoulliRBM(hidden_units=2, n_epochs=1, rng=0).fit(cont)  # a Bernoulli RBM only rescales


def test_parameter_errors(planted_split):
    train, _ = planted_split
    with pytest.raises(ValueError, match="'momentum' parameter of SoftmaxRBM"):
        SoftmaxRBM(momentum=1.0).fit(train)
    with pytest.raises(ValueError, match="'engine' parameter of BernoulliRBM"):
        BernoulliRBM(engine="cuda").fit(train)


@pytest.mark.slow
def test_ml100k_softmax_rbm_beats_biases(ml100k_80_20):
    split = ml100k_80_20
    rmse = SoftmaxRBM(rng=0).fit(split.train).evaluate(split.test)["rmse"]
    assert rmse < 0.9514  # biases baseline (Surprise BaselineOnly) on this split; measured 0.9156 (rng=0)


@pytest.mark.parametrize("cls", [SoftmaxRBM, BernoulliRBM])
def test_divergence_is_loud(cls, planted_split):
    train, _ = planted_split
    with pytest.raises(DivergenceError, match="lower lr"):
        cls(lr=1e200, hidden_units=5, n_epochs=3, rng=0).fit(train)


def test_cli_orientation_flags(tmp_path, capsys):
    from mfcore.cli import main

    rng = np.random.default_rng(0)
    rows = [(u, i, int(rng.integers(1, 6))) for u in range(1, 21) for i in range(1, 16) if rng.random() < 0.5]
    for name, part in (("train.csv", rows[:120]), ("test.csv", rows[120:])):
        (tmp_path / name).write_text("".join(f"{u},{i},{r}\n" for u, i, r in part))
    files = ["--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")]
    out = tmp_path / "run.json"
    assert main(["train", "rbm", *files, "--json", str(out), "--quiet", "--param", "item_based=false",
                 "--param", "n_epochs=2", "--param", "hidden_units=3"]) == 0
    params = json.loads(out.read_text())["params"]
    assert params["item_based"] is False and params["shared_weights"] is True and params["n_epochs"] == 2
    assert main(["train", "rbm", *files, "--param", "item_based=False"]) == 2  # a string, not a bool
    assert "'item_based' parameter of SoftmaxRBM must be True or False" in capsys.readouterr().err
