"""Exercises of tutorial 00 (data and notation): the observed-mask and a split with no cold users.

Checked against :meth:`mfcore.Ratings.to_csr` and :func:`mfcore.data.warm_split`.
"""
import numpy as np

from ..data import IdMap, Ratings, warm_split
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. matrix and mask


def _ratings(users, items, values, n_users, n_items):
    return Ratings.from_arrays(users, items, values, user_map=IdMap(np.arange(n_users)),
                               item_map=IdMap(np.arange(n_items)))


def _ref_matrix(users, items, values, n_users, n_items):
    R, mask = _ratings(users, items, values, n_users, n_items).to_csr()
    return R.toarray(), mask.toarray().astype(bool)


def _matrix(users, items, values, n_users, n_items, *, mask_rule=None, transpose=False):
    R = np.zeros((n_users, n_items))
    R[users, items] = values
    M = np.zeros((n_users, n_items), bool)
    M[users, items] = True
    if mask_rule is not None:
        M = mask_rule(R)
    return (R.T, M.T) if transpose else (R, M)


def _matrix_cases():
    return [
        Case("ratings 1-5, 3 users x 4 items", (np.array([0, 0, 1, 2, 2]), np.array([1, 3, 0, 2, 3]),
                                                 np.array([4.0, 2.0, 5.0, 1.0, 3.0]), 3, 4)),
        Case("scale -2..2 with a neutral rating of 0", (np.array([2, 0, 0, 1, 2]), np.array([0, 1, 0, 1, 2]),
                                                         np.array([2.0, 0.0, -1.0, 1.0, -2.0]), 3, 3)),
        Case("scale -2..2, 4 users x 2 items, a user with no rating", (
            np.array([0, 1, 1, 3]), np.array([1, 0, 1, 0]), np.array([-2.0, 0.0, 1.0, 0.0]), 4, 2)),
    ]


MATRIX_AND_MASK = Exercise("t00.matrix_and_mask", """
The dense users x items matrix and its observed-mask.

users, items: int arrays (n,) of dense indices; values: float array (n,).
Return (R, M): R a float array (n_users, n_items) holding each rating at
[users[j], items[j]] and 0 elsewhere, M a bool array of the same shape that is
True exactly where a rating exists. A rating may be 0 or negative (on a -2..2
scale, 0 is "neutral"): it is still observed.""",
    signature="matrix_and_mask(users, items, values, n_users, n_items)",
    reference=_ref_matrix, cases=_matrix_cases, outputs=("R", "M"),
    reference_name="mfcore.Ratings.to_csr",
    mistakes=catalogue(_matrix, [
        ("transposed", dict(transpose=True), """
the matrices are items x users: rows must be users (R[u, i])."""),
        ("mask-from-values", dict(mask_rule=lambda R: R != 0), """
the mask was read from the values (R != 0): a rating of 0 is a rating. Build M from the
(user, item) pairs, as to_csr's observed-mask does."""),
        ("mask-positive", dict(mask_rule=lambda R: R > 0), """
the mask keeps only positive values (R > 0): ratings of 0 and below are observed too.
Build M from the (user, item) pairs."""),
    ]))
check_matrix_and_mask = MATRIX_AND_MASK.checker()

# ---------------------------------------------------------------- 2. a warm split


def _ref_warm(users, items, test_size, seed):
    n = len(users)
    r = _ratings(users, items, np.arange(n, dtype=float), users.max() + 1, items.max() + 1)
    _, test = warm_split(r, test_size=test_size, rng=seed)
    is_test = np.zeros(n, bool)
    is_test[test.values.astype(int)] = True  # the values are the row numbers
    return is_test


def _warm(users, items, test_size, seed, *, pin_items=True, perm_order=True, n_test=None, from_end=False,
          pin=True):
    n = len(users)
    n_test = round(n * test_size) if n_test is None else n_test(n, test_size)
    perm = np.random.default_rng(seed).permutation(n)
    pinned = np.zeros(n, bool)  # by position in perm
    if pin:
        for keys in ((users, items) if pin_items else (users,)):
            if perm_order:
                pinned[np.unique(keys[perm], return_index=True)[1]] = True
            else:  # first rating in FILE order, then found in perm
                first_rows = np.unique(keys, return_index=True)[1]
                pinned[np.isin(perm, first_rows)] = True
    free = np.flatnonzero(~pinned)
    chosen = free[-n_test:] if from_end else free[:n_test]
    is_test = np.zeros(n, bool)
    is_test[perm[chosen]] = True
    return is_test


def _warm_case(g, n_users, n_items, n, size, seed):
    users = np.r_[np.arange(n_users), g.integers(0, n_users, n - n_users)]
    items = np.r_[np.arange(n_items), g.integers(0, n_items, n - n_items)]
    perm = g.permutation(n)
    return users[perm].astype(np.int64), items[perm].astype(np.int64), size, seed


_warm_cases = seeded_cases(_warm_case, 100, [  # row n draws from seed 100 + n and splits with seed n
    ("30 ratings, 6 users, 8 items, test_size 0.25", 6, 8, 30, 0.25, 0),
    ("40 ratings, 5 users, 10 items, test_size 0.3", 5, 10, 40, 0.3, 1),
    ("25 ratings, 7 users, 5 items, test_size 0.1", 7, 5, 25, 0.1, 2)])


WARM_SPLIT = Exercise("t00.warm_split", """
A random split with no cold user or item in test.

Return is_test, a bool array (n,) marking the test rows, built as mfcore's
warm_split does:
  1. n_test = round(n * test_size) (Python's round);
  2. perm = np.random.default_rng(seed).permutation(n);
  3. walking through perm in order, the FIRST row of each user and the first row
     of each item are pinned to train;
  4. test = the first n_test rows of perm that are not pinned.
Every test user and test item then keeps a training rating.""",
    signature="warm_split(users, items, test_size, seed)",
    reference=_ref_warm, cases=_warm_cases, outputs=("is_test",),
    reference_name="mfcore.data.warm_split",
    mistakes=catalogue(_warm, [
        ("no-pinning", dict(pin=False), """
nothing was pinned: a random split can put every rating of a user or an item in test (a
cold user or item). Pin each user's and each item's first row in perm order to train."""),
        ("users-only", dict(pin_items=False), """
only users were pinned: items can still go cold. Pin each item's first row too."""),
        ("file-order", dict(perm_order=False), """
the pinned rows are the first of each user/item in FILE order; pin the first in perm order
(np.unique(users[perm], return_index=True) gives positions in perm)."""),
        ("floor", dict(n_test=lambda n, s: int(n * s)), """
n_test was rounded down (int(n * test_size)); use round(n * test_size)."""),
        ("last-rows", dict(from_end=True), """
test took the LAST n_test free rows; take the first n_test in perm order."""),
    ]))
check_warm_split = WARM_SPLIT.checker()

EXERCISES = {e.name: e for e in (MATRIX_AND_MASK, WARM_SPLIT)}
