"""The likelihood-profile problem of a cumulative link mixed model (``result.profile_problem()``
of a :class:`~interlace.ordinal.result.CLMMResult`): the GLMM core's
(:class:`~interlace.glmm.profiling.CoreProfileProblem`) with the thresholds as parameters.

The core's coordinates hold tau_1 and the log spacings log(tau_j - tau_j-1). tau_1 is one of
them; the profile of tau_j (j >= 2) uses a chart anchored at it: the coordinate of tau_1
holds tau_j instead, and tau_1 = tau_j - sum_{i <= j} exp(log spacing_i), so that the others
(spacings, coefficients, SDs) stay free and the thresholds stay ordered.
"""

from __future__ import annotations

import numpy as np

from interlace.glmm.profiling import CoreProfileProblem
from interlace.inference.profile_fit import Chart, ChartFocal


class OrdinalProfileProblem(CoreProfileProblem):
    """A CLMM fit's deviance for profiling: thresholds as parameters (see the module)."""

    def thresholds_free(self) -> bool:
        """Whether every threshold parameter of flexible thresholds is estimated (then all
        thresholds can be profiled); the first is named ``threshold_1``, the others
        ``spacing_j``."""
        names = self.dev.layout.fam_names
        return (self.ctx.family.threshold == "flexible" and bool(names)
                and names[0] == "threshold_1" and len(names) == self.zsl.stop - self.zsl.start)

    def family_natural(self, z: np.ndarray) -> np.ndarray:
        """The thresholds tau_1 < ... from tau_1 and the log spacings; for a symmetric or
        equidistant structure, ordinal's threshold coefficients (alpha = C psi)."""
        fam = self.ctx.family
        if fam.threshold != "flexible":
            psi = super().family_natural(z)
            return fam.structure.C @ psi if psi.size == fam.structure.C.shape[1] else psi
        if not self.thresholds_free():
            return super().family_natural(z)
        return z[0] + np.concatenate([[0.0], np.cumsum(np.exp(z[1:]))])

    def family_focal(self, j: int):
        """tau_1 is a coordinate; tau_j (j >= 2) needs the chart anchored at it. Equidistant
        thresholds' coefficients (threshold.1, spacing) are coordinates (on their scales)."""
        s = self.ctx.family.structure
        if s.kind != "flexible" and np.array_equal(s.C, np.eye(s.C.shape[0])):
            return super().family_focal(j)
        if not self.thresholds_free():
            return None
        i0 = self.zsl.start
        if j == 0:
            return ChartFocal(self.chart, i0)
        return ChartFocal(self.anchored_chart(j), i0)

    def anchored_chart(self, j: int) -> Chart:
        """The chart whose tau_1 coordinate holds tau_{j+1} (0-based j: spacings 1..j)."""
        g = self.chart
        i0 = self.zsl.start
        sp = np.arange(i0 + 1, i0 + 1 + j)

        def to_global(c):
            out = c.copy()
            out[i0] = c[i0] - np.exp(c[sp]).sum()
            return out

        def grad(c):
            gg = g.grad(to_global(c))
            if gg is None:
                return None
            gg = gg.copy()
            gg[sp] -= gg[i0] * np.exp(c[sp])
            return gg

        center = g.center.copy()
        center[i0] = g.center[i0] + np.exp(g.center[sp]).sum()
        return Chart(lambda c: g.fun(to_global(c)), grad, g.lower, g.upper,
                     lambda c: g.natural(to_global(c)), center)
