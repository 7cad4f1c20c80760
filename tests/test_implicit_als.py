"""ImplicitALS (mfcore.models.implicit_als) and its engines (mfcore.engines.ials_*):
loop and jit bit-identical, CG converging to the exact solve of (I1), the objective
written out densely, ranking better than popularity on planted data, the policies."""
import numpy as np
import pytest

from helpers import assert_loads_back, assert_scores_match_predict
from mfcore import GlobalMean, ImplicitALS, Ratings, make_model
from mfcore.data.split import holdout_per_user
from mfcore.engines import ials_jit, ials_loop
from mfcore.models.als import rows_csr
from mfcore.ranking import ranking_report


def make_problem(rng, n_users=20, n_items=15, n=120, K=4):
    pairs = np.unique(rng.integers(0, n_users, n) * n_items + rng.integers(0, n_items, n))
    u, i = (pairs // n_items).astype(np.int32), (pairs % n_items).astype(np.int32)
    conf = 1.0 + 5.0 * rng.integers(1, 6, u.size)
    X = rng.normal(0, 0.1, (n_users, K))
    Y = rng.normal(0, 0.1, (n_items, K))
    return u, i, conf, X, Y


@pytest.fixture(scope="module")
def planted():
    """Users and items in 4 groups; a user interacts mostly inside its group."""
    rng = np.random.default_rng(0)
    n_users, n_items = 120, 80
    gu, gi = rng.integers(0, 4, n_users), rng.integers(0, 4, n_items)
    pop = rng.random(n_items) + 0.2  # item popularity
    prob = np.where(gu[:, None] == gi[None, :], 0.35, 0.03) * pop[None, :]
    u, i = np.nonzero(rng.random((n_users, n_items)) < prob)
    ratings = Ratings.from_arrays(u, i, np.ones(u.size), name="planted implicit")
    return holdout_per_user(ratings, fraction=0.2, rng=1)


def test_loop_and_jit_are_bit_identical_float64():
    u, i, conf, X0, Y0 = make_problem(np.random.default_rng(0))
    out = {}
    for name, fn in (("loop", ials_loop.cg_half_step), ("jit", ials_jit.cg_half_step)):
        X, Y = X0.copy(), Y0.copy()
        res = []
        for _ in range(3):
            res.append(fn(*rows_csr(u, i, conf, X.shape[0]), Y.T @ Y, Y, X, 0.1, 3))
            res.append(fn(*rows_csr(i, u, conf, Y.shape[0]), X.T @ X, X, Y, 0.1, 3))
        out[name] = (X, Y, res)
    assert np.array_equal(out["loop"][0], out["jit"][0]) and np.array_equal(out["loop"][1], out["jit"][1])
    assert out["loop"][2] == out["jit"][2]


@pytest.mark.parametrize("fn", [ials_loop.cg_half_step, ials_jit.cg_half_step])
def test_enough_cg_steps_give_the_exact_solution_of_I1(fn):
    """K CG steps solve a K x K SPD system exactly (up to rounding): compare with the
    dense system (Y^T C_u Y + reg I) x_u = Y^T C_u p_u built from the full confidence matrix."""
    u, i, conf, X, Y = make_problem(np.random.default_rng(1), K=4)
    reg = 0.3
    X_cg = X.copy()
    fn(*rows_csr(u, i, conf, X.shape[0]), Y.T @ Y, Y, X_cg, reg, 4 + 2)
    for user in range(X.shape[0]):
        c = np.ones(Y.shape[0])
        p = np.zeros(Y.shape[0])
        c[i[u == user]] = conf[u == user]
        p[i[u == user]] = 1.0
        if not p.any():
            assert np.array_equal(X_cg[user], X[user])  # no observation: left as it is
            continue
        A = Y.T @ (c[:, None] * Y) + reg * np.eye(4)
        np.testing.assert_allclose(X_cg[user], np.linalg.solve(A, Y.T @ (c * p)), rtol=1e-8, atol=1e-10)


def test_objective_matches_the_dense_sum_and_decreases(planted):
    train, _ = planted
    model = ImplicitALS(n_factors=4, n_epochs=6, cg_steps=6, reg=0.5, alpha=5.0, rng=0).fit(train)
    X, Y = model.user_factors_, model.item_factors_
    C = np.ones((train.n_users, train.n_items))
    P = np.zeros_like(C)
    C[train.users, train.items] = 1 + 5.0 * train.values
    P[train.users, train.items] = 1.0
    dense = np.sum(C * (P - X @ Y.T) ** 2) + 0.5 * (np.sum(X ** 2) + np.sum(Y ** 2))
    loss = model.history_["train_loss"]
    np.testing.assert_allclose(loss[-1] * len(train), dense, rtol=1e-10)
    # cg_steps > K: each half step is (nearly) an exact minimization, so J falls every epoch
    assert np.all(np.diff(loss) <= 1e-9 * loss[:-1])


def test_beats_popularity_on_planted_groups(planted):
    train, test = planted
    model = ImplicitALS(n_factors=4, n_epochs=10, reg=0.1, alpha=10.0, rng=0).fit(train)
    pop = GlobalMean().fit(train)  # popularity: score every item by its training count
    pop.score_users = lambda users: np.tile(pop.item_counts_.astype(float), (len(users), 1))
    ours = ranking_report(model, test, k=10, threshold=1.0)
    base = ranking_report(pop, test, k=10, threshold=1.0)
    assert ours["ndcg@10"] > 1.2 * base["ndcg@10"]
    assert ours["precision@10"] > base["precision@10"]


def test_engines_agree_through_the_model(planted):
    train, _ = planted
    a, b = (ImplicitALS(n_factors=4, n_epochs=3, engine=e, rng=0).fit(train) for e in ("loop", "jit"))
    assert np.array_equal(a.user_factors_, b.user_factors_)
    assert np.array_equal(a.history_["train_loss"], b.history_["train_loss"])


@pytest.mark.parametrize("param,value,exc,msg", [
    ("reg", -1.0, ValueError, "The 'reg' parameter of ImplicitALS must be a float >= 0"),
    ("alpha", "x", TypeError, "The 'alpha' parameter of ImplicitALS must be a float >= 0"),
    ("cg_steps", 0, ValueError, "The 'cg_steps' parameter of ImplicitALS must be an int >= 1"),
    ("engine", "vectorized", ValueError, "The 'engine' parameter of ImplicitALS must be one of"),
    ("init_std", 0.0, ValueError, "The 'init_std' parameter of ImplicitALS must be a float > 0"),
])
def test_parameter_errors(planted, param, value, exc, msg):
    with pytest.raises(exc, match=msg):
        ImplicitALS(**{param: value}).fit(planted[0])


def test_negative_values_are_refused():
    r = Ratings.from_arrays([0, 1], [0, 1], [1.0, -2.0])
    with pytest.raises(ValueError, match="ratings must be >= 0"):
        ImplicitALS(alpha=1.0, n_epochs=1).fit(r)


def test_unknown_ids_score_zero_and_scores_match_predict(tiny_ratings, tmp_path):
    model = ImplicitALS(n_factors=2, n_epochs=3, rng=0).fit(tiny_ratings)
    z, x = tiny_ratings.item_map.to_index(["z", "x"])
    np.testing.assert_array_equal(model.predict([0, -1], [z, x]), [0.0, 0.0])
    assert_scores_match_predict(model, np.arange(tiny_ratings.n_users))
    assert type(make_model("implicit-als")) is ImplicitALS
    assert_loads_back(model, tiny_ratings, tmp_path / "ials.npz")


@pytest.mark.parametrize("param,value", [("n_factors", 5), ("n_epochs", 2), ("reg", 1.0),
                                         ("alpha", 3.0), ("cg_steps", 1), ("init_std", 0.1)])
def test_every_hyperparameter_changes_the_result(planted, param, value):
    train, _ = planted
    base = dict(n_factors=4, n_epochs=3, reg=0.1, alpha=10.0, cg_steps=3, rng=0)
    a = ImplicitALS(**base).fit(train).user_factors_
    b = ImplicitALS(**dict(base, **{param: value})).fit(train).user_factors_
    assert a.shape != b.shape or not np.allclose(a, b)


def test_float32_is_kept_and_close_to_float64(planted):
    train, test = planted
    a = ImplicitALS(n_factors=4, n_epochs=3, dtype="float32", rng=0).fit(train)
    b = ImplicitALS(n_factors=4, n_epochs=3, rng=0).fit(train)
    assert a.user_factors_.dtype == np.float32 and a.item_factors_.dtype == np.float32
    # CG divides by p.Ap: float32 rounding grows a little over the steps
    np.testing.assert_allclose(a.user_factors_, b.user_factors_, rtol=1e-3, atol=1e-4)


def test_an_unknown_user_scores_zero_not_another_users_row():
    """score_users(-1) (what ranking_report passes for a test user the model never saw) is all 0,
    never the last user's row through negative indexing."""
    import numpy as np
    from helpers import planted_split

    from mfcore import ImplicitALS

    train, _ = planted_split(stars=True)  # ratings 1..5: valid confidences
    model = ImplicitALS(n_factors=3, n_epochs=2, rng=0).fit(train)
    scores = model.score_users(np.array([-1, train.n_users - 1]))
    assert np.all(scores[0] == 0) and np.any(scores[1] != 0)
