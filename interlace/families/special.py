"""Special functions the families' derivatives need, vectorised and fast.

scipy's ``polygamma`` goes through the Hurwitz zeta function (0.4 us per value, most of a Beta
fit's time); the trigamma and tetragamma functions here shift the argument above
:data:`_SHIFT_TO` by their recurrences and sum the asymptotic series (relative error below
1e-14). :func:`count_polygamma_diff` gives psi^(k)(y + r) - psi^(k)(r) for counts y, as finite
sums when the counts are small (the negative binomial's derivatives).
"""

from __future__ import annotations

import numpy as np
from scipy.special import psi

_SHIFT_TO = 10.0
_SMALL_COUNT = 64  # below this largest count, finite sums beat the polygamma functions


def _shifted(x: np.ndarray, power: int) -> tuple[np.ndarray, np.ndarray]:
    """(x + _SHIFT_TO, the sum of 1 / (x + k)^power for k < _SHIFT_TO): every argument moves by
    the same ten steps (no masks; for large x the extra terms are negligible, not harmful)."""
    x = np.asarray(x, dtype=float)
    acc = np.zeros_like(x)
    t = x.copy()
    for _ in range(int(_SHIFT_TO)):
        acc += t ** -power if power != 2 else 1.0 / (t * t)
        t += 1.0
    return t, acc


def trigamma(x: np.ndarray) -> np.ndarray:
    """psi'(x) for x > 0."""
    xs, acc = _shifted(x, 2)
    z = 1.0 / xs
    z2 = z * z
    series = z + 0.5 * z2 + z * z2 * (1.0 / 6 - z2 * (1.0 / 30 - z2 * (1.0 / 42 - z2 * (
        1.0 / 30 - z2 * 5.0 / 66))))
    return acc + series


def tetragamma(x: np.ndarray) -> np.ndarray:
    """psi''(x) for x > 0."""
    xs, acc = _shifted(x, 3)
    z = 1.0 / xs
    z2 = z * z
    series = -z2 - z2 * z - z2 * z2 * (0.5 - z2 * (1.0 / 6 - z2 * (1.0 / 6 - z2 * (
        3.0 / 10 - z2 * 5.0 / 6))))
    return -2.0 * acc + series


def polygamma_k(k: int, x: np.ndarray) -> np.ndarray:
    """psi^(k)(x), k = 0, 1, 2."""
    if k == 0:
        return psi(x)
    return trigamma(x) if k == 1 else tetragamma(x)


def count_polygamma_diff(y: np.ndarray, r: np.ndarray, order: int) -> np.ndarray:
    """psi^(order)(y + r) - psi^(order)(r) for non-negative integer counts y (order 0, 1, 2):
    sum_{k < y} of 1 / (r + k), -1 / (r + k)^2, 2 / (r + k)^3 when the counts are small."""
    y = np.asarray(y, dtype=float)
    r = np.broadcast_to(np.asarray(r, dtype=float), y.shape)
    ymax = float(np.max(y)) if y.size else 0.0
    if ymax > _SMALL_COUNT:
        return polygamma_k(order, y + r) - polygamma_k(order, r)
    k = np.arange(int(ymax))
    inv = 1.0 / (r[:, None] + k[None, :])
    mask = k[None, :] < y[:, None]
    if order == 0:
        return np.sum(np.where(mask, inv, 0.0), axis=1)
    if order == 1:
        return -np.sum(np.where(mask, inv * inv, 0.0), axis=1)
    return 2.0 * np.sum(np.where(mask, inv * inv * inv, 0.0), axis=1)
