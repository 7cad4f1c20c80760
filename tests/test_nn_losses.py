"""Losses: values and gradients by hand, normalisation conventions."""
import numpy as np

from mfcore.nn import l2_penalty, masked_mse, masked_sse, mse


def test_mse_is_batch_mean():
    # errors [1, -2, 0.5] -> (1 + 4 + 0.25) / 3 = 1.75; gradient 2 e / 3
    loss, g = mse(np.array([1.0, 0.0, 2.5]), np.array([0.0, 2.0, 2.0]))
    assert loss == 1.75
    np.testing.assert_allclose(g, [2 / 3, -4 / 3, 1 / 3], rtol=1e-15)


def test_mse_column_target_reshaped():
    loss, g = mse(np.array([[1.0], [3.0]]), np.array([0.0, 1.0]))
    assert loss == 2.5 and g.shape == (2, 1)  # (1 + 4) / 2


def test_masked_mse_normalised_by_observed_count():
    y_true = np.array([[5.0, 0.0, 3.0], [0.0, 0.0, 1.0]])  # 3 observed entries
    y_pred = np.array([[4.0, 9.0, 3.5], [7.0, 2.0, 3.0]])
    loss, g = masked_mse(y_pred, y_true)
    # squared errors on observed entries: 1, 0.25, 4 -> 5.25 / 3 = 1.75
    assert loss == 1.75
    np.testing.assert_allclose(g, [[-2 / 3, 0, 1 / 3], [0, 0, 4 / 3]], rtol=1e-15)
    # an explicit mask overrides y_true != 0
    loss2, _ = masked_mse(y_pred, y_true, mask=np.ones_like(y_true, dtype=bool))
    assert loss2 != loss


def test_masked_mse_empty_batch():
    loss, g = masked_mse(np.ones((2, 2)), np.zeros((2, 2)))
    assert loss == 0.0 and not g.any()


def test_masked_sse():
    loss, g = masked_sse(np.array([[4.0, 9.0]]), np.array([[5.0, 0.0]]))
    assert loss == 1.0
    np.testing.assert_array_equal(g, [[-2.0, 0.0]])


def test_l2_penalty_keras_semantics():
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    pen, g = l2_penalty(w, 0.01)
    assert np.isclose(pen, 0.14, rtol=1e-15)  # 0.01 * (1 + 4 + 9), no 1/2
    np.testing.assert_allclose(g, 0.02 * w, rtol=1e-15)
