"""The fitted model's fixed context: design, family, penalised-system structure, layout."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from interlace.families.base import Family, check_family_outputs
from interlace.linalg.penalized import PenalizedSystem
from interlace.model.design import Design


@dataclass
class ModelContext:
    """What integrators see: data, family (with its link) and the penalised system."""

    design: Design
    family: object
    solver: str = "auto"  # the penalised system's solver (PenalizedSystem's ``solver``)

    @classmethod
    def build(cls, design: Design, family, solver: str = "auto") -> ModelContext:
        """The context of one fit; the family's per-row outputs are checked here, once."""
        check_family_outputs(family, design.y, design.weights, family.parameter_values())
        return cls(design, family, solver)

    def with_response(self, y: np.ndarray) -> ModelContext:
        """The same model on another response ``y`` (one value per row, on the design's scale:
        proportions for ``s / n``, category codes for an ordinal response), as a refit needs it:
        the design with y replaced and the penalised system's structure shared (the family's
        outputs were checked when the model was built, and their shapes do not depend on y).
        ``y`` is not validated here (see :mod:`interlace.inference.refit`)."""
        ctx = ModelContext(replace(self.design, y=np.asarray(y, dtype=float)), self.family,
                           self.solver)
        if "system" in self.__dict__:
            ctx.__dict__["system"] = self.system
        return ctx

    @cached_property
    def system(self) -> PenalizedSystem:
        """The blocked penalised system of the design's terms, built on first use (the LMM's
        dense path for small models never needs it, and there it costs a whole evaluation)."""
        return PenalizedSystem(self.design.terms, self.solver)

    def loglik_constant(self, fp: dict) -> float:
        """The family's data-only log-density term, computed once per parameter value (the
        last few values are kept: PIRLS asks at one value many times in a row; per-row values
        of a parameter with a formula are keyed by their bytes, so the cache stays small).
        0 without a lookup for a family that keeps the contract's default (no such term)."""
        if type(self.family).loglik_constant is Family.loglik_constant:
            return 0.0
        cache = self.__dict__.setdefault("_const_cache", {})
        key = tuple(sorted((k, v if np.ndim(v) == 0 else np.asarray(v).tobytes())
                           for k, v in fp.items()))
        if key not in cache:
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            d = self.design
            cache[key] = self.family.loglik_constant(d.y, d.weights, fp)
        return cache[key]

    @property
    def link(self):
        return self.family.link

    @property
    def ntheta(self) -> int:
        return sum(t.ntheta for t in self.design.terms)

    def theta_slices(self) -> list[slice]:
        """Slices of theta per term, in the design's (formula) order."""
        out, i = [], 0
        for t in self.design.terms:
            out.append(slice(i, i + t.ntheta))
            i += t.ntheta
        return out

    @property
    def linear_theta(self) -> bool:
        """Whether every term's theta is its factor's entries (``|`` and ``||`` terms)."""
        return all(t.linear for t in self.design.terms)

    def scale_theta(self, theta: np.ndarray, s: float) -> np.ndarray:
        """theta whose factors are s times theta's (an LMM's relative theta -> absolute)."""
        theta = np.asarray(theta, float)
        if self.linear_theta:
            return theta * s
        return np.concatenate([t.scale_theta(theta[sl], s) for t, sl
                               in zip(self.design.terms, self.theta_slices())] or [theta])

    def zl(self, theta: np.ndarray) -> list[np.ndarray]:
        """Z Lambda blocks in the solver's order."""
        key = self.__dict__.get("_zl_plan")
        if key is None or key[0] is not self.design or key[1] is not self.system:
            sl = self.theta_slices()  # (term, its theta slice) in solver order, once per model
            key = (self.design, self.system,
                   [(self.design.terms[i], sl[i]) for i in self.system.order])
            self.__dict__["_zl_plan"] = key
        return [t.ZLambda(theta[s]) for t, s in key[2]]

    def u_blocks(self, u: np.ndarray) -> dict[int, np.ndarray]:
        """Per design-term index, its u as (levels, k)."""
        s = self.system
        return {ti: u[s.slices[pos]].reshape(-1, self.design.terms[ti].k)
                for pos, ti in enumerate(s.order)}
