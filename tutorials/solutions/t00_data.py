"""Solutions to the checked exercises of tutorial 00 (data and notation)."""
import numpy as np


def matrix_and_mask(users, items, values, n_users, n_items):
    R = np.zeros((n_users, n_items))
    R[users, items] = values
    M = np.zeros((n_users, n_items), dtype=bool)
    M[users, items] = True          # from the pairs, never from the values: 0 can be a rating
    return R, M


def warm_split(users, items, test_size, seed):
    n = len(users)
    n_test = round(n * test_size)
    perm = np.random.default_rng(seed).permutation(n)
    pinned = np.zeros(n, dtype=bool)                                # by position in perm
    pinned[np.unique(users[perm], return_index=True)[1]] = True     # first row of each user
    pinned[np.unique(items[perm], return_index=True)[1]] = True     # first row of each item
    test_positions = np.flatnonzero(~pinned)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[perm[test_positions]] = True
    return is_test
