"""Solutions to the checked exercises of tutorial 03 (the engines)."""
import numpy as np


def sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    e = r - (mu + b_u + b_i + p_u @ q_i)                   # (1) once, before any update
    new_b_u = b_u + lr * (e - reg * b_u)                   # (U1)
    new_b_i = b_i + lr * (e - reg * b_i)                   # (U2)
    new_p_u = p_u + lr * (e * q_i - reg * p_u)             # (U3)
    new_q_i = q_i + lr * (e * p_u - reg * q_i)             # (U4): the OLD p_u
    return new_b_u, new_b_i, new_p_u, new_q_i


def vectorized_epoch(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, batch_size):
    sse = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        u, i = users[idx], items[idx]
        Pu, Qi = P[u], Q[i]                                # copies: the batch-start values
        e = ratings[idx] - mu - bu[u] - bi[i] - np.sum(Pu * Qi, axis=1)
        sse += float(e @ e)
        np.add.at(bu, u, lr * (e - reg * bu[u]))           # add.at: repeated rows add up
        np.add.at(bi, i, lr * (e - reg * bi[i]))
        np.add.at(P, u, lr * (e[:, None] * Qi - reg * Pu))
        np.add.at(Q, i, lr * (e[:, None] * Pu - reg * Qi))
    return sse
