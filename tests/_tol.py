"""Tolerances used across the test suite (STYLE.md section 5), in one place.

A test that needs another tolerance writes it inline with a one-line comment
saying why.
"""
EXACT = dict(rtol=0, atol=0)  # bit-identical; prefer np.array_equal where possible
F64 = dict(rtol=1e-10, atol=1e-12)  # float64 engines that differ only in summation order
F32 = dict(rtol=1e-4, atol=1e-6)  # float32 engines after a few epochs
GRAD = 1e-6  # max relative error of a central-difference gradient check
