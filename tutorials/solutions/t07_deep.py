"""Solutions to the checked exercises of tutorial 07 (the deep model and RNCF)."""
import numpy as np


def adam_step(w, m, v, g, t, lr, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)    # the bias correction
    w = w - alpha * m / (np.sqrt(v) + epsilon)
    return w, m, v


def batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon):
    if training:
        mean, var = x.mean(axis=0), x.var(axis=0)                 # biased variance
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    else:
        mean, var = moving_mean, moving_var
    y = gamma * (x - mean) / np.sqrt(var + epsilon) + beta
    return y, moving_mean, moving_var
