"""Top-n recommendations for one user, as a table with titles."""
import numpy as np

from ._validation import check_is_fitted, check_number, plain_repr
from .ranking import score_users, top_k


def recommend(model, user, n=10, exclude_rated=True, raw=True):
    """The ``n`` items with the highest predicted rating for ``user``.

    Items are ranked by the model's unclipped prediction (clipping would tie
    every item above the top of the scale); ties go to the lower item index.

    Parameters
    ----------
    model : fitted Recommender
    user : raw user id (``raw=True``, as in the data files) or user index
    n : int, default 10
    exclude_rated : bool, default True
        Leave out the items the user rated in the training data.
    raw : bool, default True
        Whether ``user`` is a raw id or an index of the model's user map.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank`` (1..n), ``item`` (raw id), ``title`` (from the
        model's item titles, else the raw id as text) and ``score``. Fewer
        than n rows when fewer items are left.

    Raises
    ------
    KeyError
        When the raw id is not one of the model's users.

    Examples
    --------
    >>> model = Biases().fit(train)                 # doctest: +SKIP
    >>> recommend(model, 196, n=5)                  # doctest: +SKIP
    """
    import pandas as pd

    check_is_fitted(model, "global_mean_")
    n = check_number(n, "n", "recommend", kind="int", low=1, low_inclusive=True)
    n_users = model.user_counts_.size
    if raw:
        u = model.user_map_.to_index(user, missing="ignore")
        if np.ndim(u) != 0:
            raise TypeError(f"recommend takes one user id; got {plain_repr(user)}")
        if u < 0:
            raise KeyError(f"unknown user {plain_repr(user)}: this model was trained on {n_users} users and "
                           "this id is not one of them; check the id against the first column of the "
                           "training file (ids are the file's own, e.g. 196 in ML-100k's u.data)")
    else:
        if not isinstance(user, (int, np.integer)) or not 0 <= user < n_users:
            raise KeyError(f"user index {plain_repr(user)} is out of range for this model's {n_users} users; "
                           "pass raw=True to look the user up by its raw id")
        u = int(user)
    scores = score_users(model, np.array([u]))[0]  # (n_items,)
    candidates = np.ones(scores.size, dtype=bool)
    if exclude_rated:
        candidates[model.rated_indices_[model.rated_indptr_[u]:model.rated_indptr_[u + 1]]] = False
    pool = np.flatnonzero(candidates)
    best = pool[top_k(scores[pool][None, :], n)[0]]
    items = model.item_map_.raw[best]
    titles = model.item_titles_[best] if model.item_titles_ is not None else items.astype(str)
    return pd.DataFrame({"rank": np.arange(1, best.size + 1), "item": items,
                         "title": titles, "score": scores[best]})
