"""Baselines: the global mean, and user and item biases.

Every other model should beat these; if it does not, something is wrong.
"""
import numpy as np

from .._validation import check_choice, check_number
from .base import Recommender
from .registry import register
from .params import store_params


@register
class GlobalMean(Recommender):
    """Predict the mean training rating mu for every pair.

    Model: r_hat_ui = mu.
    """

    name = "mean"

    def __init__(self):
        pass

    def _fit(self, train, valid, callbacks):
        pass

    def _predict_known(self, u, i):
        return np.full(u.shape, self.global_mean_, dtype=np.float64)

    def _get_state(self):
        return {}


@register
class Biases(Recommender):
    r"""User and item biases around the global mean, regularized.

    Model:

    .. math:: \hat r_{ui} = \mu + b_u + b_i

    Loss (summed over the training ratings):

    .. math:: \sum_{(u,i)} (r_{ui} - \mu - b_u - b_i)^2 + \lambda_u \sum_u b_u^2 + \lambda_i \sum_i b_i^2

    ``method="als"`` minimizes it exactly by alternating closed forms
    (Koren 2010, as Surprise's BaselineOnly does):

    (B1) b_i <- sum_{u in R(i)} (r_ui - mu - b_u) / (reg_item + |R(i)|)
    (B2) b_u <- sum_{i in R(u)} (r_ui - mu - b_i) / (reg_user + |R(u)|)

    each repeated ``n_epochs`` times, items first. ``method="closed"`` makes a
    single pass of (B1) with b_u = 0 then (B2): the damped-means baseline.

    Parameters
    ----------
    reg_user, reg_item : float, default 15, 10
        lambda_u and lambda_i (Surprise's defaults for ALS).
    n_epochs : int, default 10
        ALS sweeps.
    method : {"als", "closed"}
    verbose : int, default 0

    Attributes
    ----------
    user_bias_ : ndarray (n_users,)  b_u
    item_bias_ : ndarray (n_items,)  b_i
    global_mean_ : float  mu

    Unknown users or items: their bias is 0, so an unknown user with a known
    item gets mu + b_i.

    References
    ----------
    Y. Koren, "Factor in the neighbors: scalable and accurate collaborative
    filtering", ACM TKDD 4(1), 2010, section 2.1.
    """

    name = "biases"
    iterative = True

    def __init__(self, reg_user=15.0, reg_item=10.0, n_epochs=10, method="als", verbose=0):
        store_params(self, locals())

    def _fit(self, train, valid, callbacks):
        reg_u = check_number(self.reg_user, "reg_user", self, low=0, low_inclusive=True)
        reg_i = check_number(self.reg_item, "reg_item", self, low=0, low_inclusive=True)
        n_epochs = check_number(self.n_epochs, "n_epochs", self, kind="int", low=1, low_inclusive=True)
        method = check_choice(self.method, "method", self, ("als", "closed"))
        if method == "closed":
            n_epochs = 1
        u, i, r = train.users, train.items, train.values
        mu = self.global_mean_
        # denominators; an unrated user/item (count 0) keeps bias 0 even with reg 0
        den_u = np.maximum(reg_u + self.user_counts_, 1e-300)  # (n_users,)
        den_i = np.maximum(reg_i + self.item_counts_, 1e-300)  # (n_items,)
        self.user_bias_ = np.zeros(train.n_users)  # (n_users,)
        self.item_bias_ = np.zeros(train.n_items)  # (n_items,)

        def epoch(_):
            bu, bi = self.user_bias_, self.item_bias_
            # (B1) items, given the current user biases
            bi[:] = np.bincount(i, weights=r - mu - bu[u], minlength=bi.size) / den_i
            # (B2) users, given the new item biases
            bu[:] = np.bincount(u, weights=r - mu - bi[i], minlength=bu.size) / den_u
            e = r - (mu + bu[u] + bi[i])  # (n,)
            return float(np.mean(e ** 2))

        self._run_epochs(n_epochs, epoch, callbacks)

    def _predict_known(self, u, i):
        return self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.user_bias_, self.item_bias_)

    def _get_state(self):
        return {"user_bias_": self.user_bias_, "item_bias_": self.item_bias_}


@register
class Popularity(Recommender):
    """Rank items by their number of training ratings: the baseline of implicit feedback.

    Score: s_ui = n_i, the number of training ratings (positives) of item i,
    the same for every user; ``recommend`` and the ranking metrics exclude the
    items a user already rated. Every personalised ranking model must beat it
    (tutorial 14). It is an implicit-feedback model (``implicit = True``):
    its scores are counts, not ratings, so its RMSE means nothing.
    """

    name = "popularity"
    implicit = True

    def __init__(self):
        pass

    def _fit(self, train, valid, callbacks):
        pass

    def _predict_known(self, u, i):
        return self.item_counts_[i].astype(np.float64)

    def _predict_fallback(self, u, i):
        out = np.zeros(u.shape, dtype=np.float64)
        known = (i >= 0) & (i < self.item_counts_.size)
        out[known] = self.item_counts_[i[known]]
        return out

    def score_users(self, users):
        """(len(users), n_items): every row the items' training counts."""
        return np.tile(self.item_counts_.astype(np.float64), (len(users), 1))

    def _get_state(self):
        return {}
