"""Per-row quantities of a cumulative link model at a linear predictor eta.

A row in category y (0-based) has the cut points a = tau_{y+1} - eta and b = tau_y - eta
(tau_0 = -inf, tau_K = +inf) and the log-likelihood l = log(F(a) - F(b)). With r_a, r_b,
g r and k r from :mod:`interlace.ordinal.links` (written α, β, gα, gβ, kα, kβ below), its
derivatives in the cut points are

    l_a = α,  l_b = -β,  l_aa = gα - α²,  l_ab = αβ,  l_bb = -gβ - β²,
    l_aaa = kα - 3α gα + 2α³,  l_aab = β gα - 2α²β,  l_abb = α gβ + 2αβ²,
    l_bbb = -kβ - 3β gβ - 2β³,

and eta enters as -(a + b): the score s = -(l_a + l_b) = β - α, the observed information
W = -(l_aa + 2 l_ab + l_bb) = (α - β)² - (gα - gβ), and their derivatives in a and b,

    s_a = -(l_aa + l_ab),  s_b = -(l_ab + l_bb),
    W_a = -(l_aaa + 2 l_aab + l_abb),  W_b = -(l_aab + 2 l_abb + l_bbb),

so dW/deta = -(W_a + W_b), and a threshold tau_j moves a (rows with y + 1 = j) or b (rows
with y = j): the exact gradient of the Laplace deviance in the thresholds needs no differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.ordinal.links import CumulativeLink


@dataclass
class Cuts:
    """Per-row upper and lower threshold (+-inf at the ends) and which rows are in the top
    and bottom categories, for one set of thresholds."""

    up: np.ndarray
    lo: np.ndarray
    top: np.ndarray
    bottom: np.ndarray


def category_ends(yi: np.ndarray, k1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`cuts_for` needs of the category indices ``yi`` alone, for ``k1``
    thresholds: each row's upper threshold's index into [-inf, tau, inf] (``yi + 1``), and
    which rows are in the top and bottom categories (kept by callers that ask often)."""
    return yi + 1, yi == k1, yi == 0


def cuts_for(tau: np.ndarray, yi: np.ndarray, ends: tuple | None = None) -> Cuts:
    """The cut points of rows with category indices ``yi`` (integers 0..K-1) at thresholds
    ``tau`` (K-1 values); ``ends``: :func:`category_ends` of ``yi``, if the caller kept it."""
    up, top, bottom = category_ends(yi, tau.size) if ends is None else ends
    ext = np.empty(tau.size + 2)
    ext[0], ext[1:-1], ext[-1] = -np.inf, tau, np.inf
    return Cuts(ext.take(up), ext.take(yi), top, bottom)


def row_state(link: CumulativeLink, cuts: Cuts, eta: np.ndarray, ratios: bool) -> dict:
    """log P per row (``lp``) and, with ``ratios``, α, β, gα, gβ (``ra``, ``rb``, ``gra``,
    ``grb``) and the cut points ``a``, ``b``; unweighted."""
    a, b = cuts.up - eta, cuts.lo - eta
    with np.errstate(all="ignore"):
        lp, ra, rb, gra, grb = link.evaluate(a, b, cuts.top, cuts.bottom, ratios)
    if not ratios:
        return {"lp": lp}
    return {"lp": lp, "ra": ra, "rb": rb, "gra": gra, "grb": grb, "a": a, "b": b}


def information(st: dict, log_concave: bool) -> np.ndarray:
    """The observed information W per row (unweighted); for a log-concave F it is positive,
    and rounding below 0 is cut off."""
    d = st["ra"] - st["rb"]
    W = d * d - (st["gra"] - st["grb"])
    return np.maximum(W, 0.0) if log_concave else W


def second_derivatives(st: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """l_aa, l_ab, l_bb per row (unweighted), from a :func:`row_state` with ratios."""
    al, be = st["ra"], st["rb"]
    return st["gra"] - al * al, al * be, -st["grb"] - be * be


def cut_derivatives(link: CumulativeLink, cuts: Cuts, st: dict) -> dict:
    """l_a, l_b, s_a, s_b, W_a, W_b per row (unweighted; see the module docstring), from a
    :func:`row_state` with ratios."""
    al, be, ga, gb = st["ra"], st["rb"], st["gra"], st["grb"]
    with np.errstate(all="ignore"):
        ka, kb = link.curvature(st["a"], st["b"], al, be, cuts.top, cuts.bottom)
    l_aa, ab, l_bb = second_derivatives(st)
    l_aaa = ka - 3.0 * al * ga + 2.0 * al * al * al
    l_aab = be * ga - 2.0 * al * ab
    l_abb = al * gb + 2.0 * ab * be
    l_bbb = -kb - 3.0 * be * gb - 2.0 * be * be * be
    return {"la": al, "lb": -be, "sa": -(l_aa + ab), "sb": -(ab + l_bb),
            "Wa": -(l_aaa + 2.0 * l_aab + l_abb), "Wb": -(l_aab + 2.0 * l_abb + l_bbb)}
