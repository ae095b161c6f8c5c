r"""numba kernel for one Adam update, fused into a single pass over the arrays.

Raw 1-d arrays and scalars only, no validation: :class:`minigraphrec.optim.Adam`
checks the inputs, casts every scalar to the arrays' dtype and holds the NumPy
reference (``Adam._update_numpy``) this kernel is tested against, bit for bit.

Each call also returns how many entries of the gradient ``g'`` (after weight decay) are
not finite: the training loops' check for a NaN or infinite gradient, read here, where the
update reads every entry anyway, instead of in a separate pass over every gradient (a read
of every parameter's worth of memory per step, which dense tables such as MF's make costly).

Agreement with NumPy. The reference runs the same float operations in the
same order, each rounded to the arrays' dtype (NumPy 2 keeps float32 arrays
in float32 when the scalars are float32); numba compiles without
``fastmath``, so LLVM neither reorders nor fuses them into FMAs. Every
element is independent, so the parallel loop is deterministic.
"""
from __future__ import annotations

import math

from numba import njit, prange

__all__ = ["adam_update", "adam_update_serial"]


@njit(cache=True, inline="always")
def _update(p, g, m, v, i, beta1, one_minus_beta1, beta2, one_minus_beta2,
            step_size, sqrt_bias2, eps, weight_decay):
    gi = g[i]
    if weight_decay != 0:
        gi = gi + weight_decay * p[i]
    mi = m[i] * beta1 + gi * one_minus_beta1
    vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
    denom = math.sqrt(vi) / sqrt_bias2 + eps
    p[i] = p[i] - (mi / denom) * step_size
    m[i] = mi
    v[i] = vi
    return 0 if math.isfinite(gi) else 1


@njit(parallel=True, cache=True)
def adam_update(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2,
                step_size, sqrt_bias2, eps, weight_decay):
    r"""In place, for every i (all arrays (n,), one float dtype; scalars in that dtype):

    ``g' = g + weight_decay · p`` (only if ``weight_decay != 0``),
    ``m = beta1 · m + (1 - beta1) · g'``,
    ``v = beta2 · v + ((g' · g') · (1 - beta2))``,
    ``p = p - (m / (sqrt(v) / sqrt_bias2 + eps)) · step_size``,

    with ``step_size = lr / (1 - beta1^t)`` and ``sqrt_bias2 = sqrt(1 - beta2^t)``.
    Returns the number of entries where ``g'`` is NaN or infinite.
    """
    bad = 0
    for i in prange(p.shape[0]):
        bad += _update(p, g, m, v, i, beta1, one_minus_beta1, beta2, one_minus_beta2,
                       step_size, sqrt_bias2, eps, weight_decay)
    return bad


@njit(cache=True)
def adam_update_serial(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2,
                       step_size, sqrt_bias2, eps, weight_decay):
    r""":func:`adam_update` in one thread, for small arrays (waking threads would cost more)."""
    bad = 0
    for i in range(p.shape[0]):
        bad += _update(p, g, m, v, i, beta1, one_minus_beta1, beta2, one_minus_beta2,
                       step_size, sqrt_bias2, eps, weight_decay)
    return bad
