"""Exercises of tutorial 10 (performance engineering): the strata of a block grid, and bucketing.

Checked against :func:`mfcore.engines.mf_blocks.stratum_schedule` and the
counting sort of :func:`mfcore.engines.mf_blocks.bucket` (its block bounds).
"""
import numpy as np

from ..engines.mf_blocks import range_edges, stratum_schedule
from ._core import Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. the strata


def _schedule(rows, cols, shift, *, no_shift=False, swap=False, transposed=False, shift_by_range=False):
    g = len(rows)
    a = np.arange(g)
    out = np.empty((g, g), dtype=np.int64)
    for t in range(g):
        s = shift[a] if shift_by_range else (0 if no_shift else shift[t])
        c = (rows[(cols[a] + s) % g]) if swap else cols[(rows[a] + s) % g]
        out[t] = c * g + a if transposed else a * g + c
    return out


def _schedule_case(r, g):
    return r.permutation(g), r.permutation(g), r.permutation(g)


_schedule_cases = seeded_cases(_schedule_case, 100, [("g = 4", 4), ("g = 3", 3), ("g = 6", 6)])


SCHEDULE = Exercise("t10.stratum_schedule", """
The blocks of every step (stratum) of one epoch on a g x g grid.

rows, cols, shift: three permutations of range(g), drawn once per epoch.
Block (a, c) (user range a, item range c) has id a * g + c. Step t runs, for
every user range a = 0..g-1, the block
  (a, cols[(rows[a] + shift[t]) mod g]).
Return the (g, g) integer array S with S[t, a] = that block's id. (Each step
pairs every user range with a different item range, so its blocks share no
row of P or Q; over the g steps every block comes exactly once.)""",
    signature="stratum_schedule(rows, cols, shift)",
    reference=stratum_schedule, cases=_schedule_cases, outputs=("S",),
    reference_name="mfcore.engines.mf_blocks.stratum_schedule",
    mistakes=catalogue(_schedule, [
        ("no-shift", dict(no_shift=True), """
every step ran the same blocks: the step's shift[t] is missing, so the epoch visits only g
of the g*g blocks (g times each)."""),
        ("rows-cols-swapped", dict(swap=True), """
rows and cols swapped roles: the item range is cols[(rows[a] + shift[t]) mod g]."""),
        ("transposed-id", dict(transposed=True), """
block ids are transposed: block (a, c) has id a * g + c (user range first), not c * g + a."""),
        ("shift-by-range", dict(shift_by_range=True), """
the shift was indexed by the user range a instead of the step t: one step then no longer
pairs ranges one to one."""),
    ]))
check_stratum_schedule = SCHEDULE.checker()

# ---------------------------------------------------------------- 2. bucketing


def _ref_starts(users, items, user_edges, item_edges):
    g = len(user_edges) - 1
    ur = np.repeat(np.arange(g), np.diff(user_edges))
    ir = np.repeat(np.arange(g), np.diff(item_edges))
    counts = np.bincount(ur[users] * g + ir[items], minlength=g * g)
    return np.concatenate([[0], np.cumsum(counts)])


def _starts(users, items, user_edges, item_edges, *, transposed=False, no_zero=False, not_cumulative=False,
            upper_edge=False):
    g = len(user_edges) - 1
    side = "left" if upper_edge else "right"
    ur = np.searchsorted(user_edges, users, side=side) - 1
    ir = np.searchsorted(item_edges, items, side=side) - 1
    ur, ir = np.clip(ur, 0, g - 1), np.clip(ir, 0, g - 1)
    b = ir * g + ur if transposed else ur * g + ir
    counts = np.bincount(b, minlength=g * g)
    if not_cumulative:
        return np.concatenate([[0], counts])
    return np.cumsum(counts) if no_zero else np.concatenate([[0], np.cumsum(counts)])


def _starts_case(r, n_users, n_items, n, g):
    users, items = r.integers(0, n_users, n), r.integers(0, n_items, n)
    return users, items, range_edges(users, n_users, g), range_edges(items, n_items, g)


_starts_cases = seeded_cases(_starts_case, 110, [("9 users, 7 items, g = 3", 9, 7, 40, 3),
                                                 ("12 users, 10 items, g = 4", 12, 10, 60, 4),
                                                 ("5 users, 8 items, g = 2", 5, 8, 25, 2)])


STARTS = Exercise("t10.block_starts", """
Where each block of the grid starts once the ratings are sorted by block (a counting sort).

users, items (n,) indices; user_edges (g + 1,) the bounds of the g user
ranges (user range a holds the users user_edges[a] <= u < user_edges[a + 1]),
item_edges likewise. Rating n belongs to block (a, c), id a * g + c, where a
is its user's range and c its item's range.
Return starts (g*g + 1,): starts[0] = 0 and starts[b + 1] - starts[b] = the
number of ratings in block b, so that after sorting the ratings by block,
block b is records[starts[b]:starts[b + 1]].""",
    signature="block_starts(users, items, user_edges, item_edges)",
    reference=_ref_starts, cases=_starts_cases, outputs=("starts",),
    reference_name="the counting sort of mfcore.engines.mf_blocks.bucket (its ``starts``)",
    mistakes=catalogue(_starts, [
        ("transposed-id", dict(transposed=True), """
block ids are transposed: block (a, c) is a * g + c with a the USER range."""),
        ("no-leading-zero", dict(no_zero=True), """
starts lacks its leading 0: it has g*g + 1 entries, starts[0] = 0 and starts[-1] = n."""),
        ("not-cumulative", dict(not_cumulative=True), """
these are the counts per block, not where each block starts: take the cumulative sum."""),
        ("edge-belongs-below", dict(upper_edge=True), """
a user (item) equal to an edge was put in the range below: range a is user_edges[a] <= u <
user_edges[a + 1]."""),
    ]))
check_block_starts = STARTS.checker()

EXERCISES = {e.name: e for e in (SCHEDULE, STARTS)}
