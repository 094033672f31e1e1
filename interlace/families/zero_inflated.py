"""The named zero-part families: glmmTMB's zero-truncated counts (``truncated_poisson``,
``truncated_nbinom1``, ``truncated_nbinom2``, ``truncated_genpois``, ``truncated_compois``),
and families with a zero probability ``zi`` (glmmTMB's ``ziformula = ~1``): zero-inflated
counts (``zipoisson``, ``zinbinom1``, ``zinbinom2``), hurdles (``hurdle_poisson``,
``hurdle_nbinom1``, ``hurdle_nbinom2``) and the Gamma hurdle (``zigamma``, glmmTMB's
``ziGamma`` with a ``ziformula``). Each is :class:`~interlace.families.zero_part.ZeroPartFamily`
or :class:`~interlace.families.zero_part.ZeroTruncatedFamily` around a base family; any other
family with a ``zero_part`` gets the same from ``ziformula=`` (``family="genpois",
ziformula="~1"`` is the zero-inflated generalised Poisson). ``mu`` is the base family's mean
(the untruncated mean for hurdles and truncated families, as glmmTMB's)."""

from __future__ import annotations

import numpy as np

from interlace.families.compois import ConwayMaxwellPoissonFamily
from interlace.families.derivatives import LogDensityDerivatives
from interlace.families.gamma import GammaFamily
from interlace.families.genpois import GeneralizedPoissonFamily
from interlace.families.nbinom1 import NegativeBinomial1Family
from interlace.families.negative_binomial import NegativeBinomial2Family
from interlace.families.poisson import PoissonFamily
from interlace.families.zero_part import ZeroPartFamily, ZeroTruncatedFamily


class TruncatedPoissonFamily(ZeroTruncatedFamily):
    """Zero-truncated Poisson: Poisson(y; mu) / (1 - exp(-mu)), y >= 1."""

    name = "truncated_poisson"
    aliases = ("ztpoisson",)
    links = PoissonFamily.links
    base_family = PoissonFamily

    def __init__(self, link=None) -> None:
        super().__init__(link=link)

    def loglik_derivatives(self, y, mu, weights, params, wrt=(), third=False):
        """Closed forms (no parameters): with s = 1 / (e^mu - 1), d1 = y/mu - 1 - s,
        d2 = -y/mu^2 + s (1 + s), d3 = 2 y/mu^3 - s (1 + s)(1 + 2 s), times the weights."""
        if wrt:
            return super().loglik_derivatives(y, mu, weights, params, wrt, third)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            s = 1.0 / np.expm1(mu)
            ym = y / mu
            ss = s * (1.0 + s)
            out = LogDensityDerivatives(weights * (ym - 1.0 - s), weights * (ss - ym / mu))
            if third:
                out.d3 = weights * (2.0 * ym / (mu * mu) - ss * (1.0 + 2.0 * s))
        return out


class TruncatedNB1Family(ZeroTruncatedFamily):
    """Zero-truncated NB1 (Var = mu (1 + phi) before truncation)."""

    name = "truncated_nbinom1"
    links = NegativeBinomial1Family.links
    base_family = NegativeBinomial1Family

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)


class TruncatedNB2Family(ZeroTruncatedFamily):
    """Zero-truncated NB2 (shape theta)."""

    name = "truncated_nbinom2"
    links = NegativeBinomial2Family.links
    base_family = NegativeBinomial2Family

    def __init__(self, theta: float | None = None, link=None) -> None:
        super().__init__(link=link, theta=theta)


class TruncatedGenPoisFamily(ZeroTruncatedFamily):
    """Zero-truncated generalised Poisson."""

    name = "truncated_genpois"
    links = GeneralizedPoissonFamily.links
    base_family = GeneralizedPoissonFamily

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)


class TruncatedComPoisFamily(ZeroTruncatedFamily):
    """Zero-truncated Conway-Maxwell-Poisson."""

    name = "truncated_compois"
    links = ConwayMaxwellPoissonFamily.links
    base_family = ConwayMaxwellPoissonFamily

    def __init__(self, phi: float | None = None, link=None) -> None:
        super().__init__(link=link, phi=phi)


class ZeroInflatedPoissonFamily(ZeroPartFamily):
    """P(0) = zi + (1 - zi) exp(-mu); P(y > 0) = (1 - zi) Poisson(y; mu)."""

    name = "zipoisson"
    aliases = ("zip", "zero_inflated_poisson")
    links = PoissonFamily.links
    base_family, kind = PoissonFamily, "inflate"

    def __init__(self, zi: float | None = None, link=None) -> None:
        super().__init__(link=link, zi=zi)


class ZeroInflatedNB1Family(ZeroPartFamily):
    """P(0) = zi + (1 - zi) NB1(0; mu, phi); P(y > 0) = (1 - zi) NB1(y; mu, phi)."""

    name = "zinbinom1"
    aliases = ("zinb1",)
    links = NegativeBinomial1Family.links
    base_family, kind = NegativeBinomial1Family, "inflate"

    def __init__(self, phi: float | None = None, zi: float | None = None, link=None) -> None:
        super().__init__(link=link, zi=zi, phi=phi)


class ZeroInflatedNB2Family(ZeroPartFamily):
    """P(0) = zi + (1 - zi) NB2(0; mu, theta); P(y > 0) = (1 - zi) NB2(y; mu, theta)."""

    name = "zinbinom2"
    aliases = ("zinb2", "zinb", "zero_inflated_nbinom2")
    links = NegativeBinomial2Family.links
    base_family, kind = NegativeBinomial2Family, "inflate"

    def __init__(self, theta: float | None = None, zi: float | None = None, link=None) -> None:
        super().__init__(link=link, zi=zi, theta=theta)


class HurdlePoissonFamily(ZeroPartFamily):
    """glmmTMB's truncated_poisson with ``ziformula = ~1``: P(0) = zi; P(y > 0) =
    (1 - zi) Poisson(y; mu) / (1 - exp(-mu)). ``mu`` is the untruncated Poisson mean."""

    name = "hurdle_poisson"
    aliases = ("hurdlepoisson",)
    links = PoissonFamily.links
    base_family, kind = TruncatedPoissonFamily, "hurdle"

    def __init__(self, zi: float | None = None, link=None) -> None:
        super().__init__(link=link, zi=zi)


class HurdleNB1Family(ZeroPartFamily):
    """glmmTMB's truncated_nbinom1 with ``ziformula = ~1``."""

    name = "hurdle_nbinom1"
    links = NegativeBinomial1Family.links
    base_family, kind = TruncatedNB1Family, "hurdle"

    def __init__(self, phi: float | None = None, zi: float | None = None, link=None) -> None:
        super().__init__(link=link, zi=zi, phi=phi)


class HurdleNB2Family(ZeroPartFamily):
    """glmmTMB's truncated_nbinom2 with ``ziformula = ~1``: P(0) = zi; P(y > 0) =
    (1 - zi) NB2(y; mu, theta) / (1 - NB2(0; mu, theta)). ``mu`` is the untruncated mean."""

    name = "hurdle_nbinom2"
    aliases = ("hurdlenb2",)
    links = NegativeBinomial2Family.links
    base_family, kind = TruncatedNB2Family, "hurdle"

    def __init__(self, theta: float | None = None, zi: float | None = None, link=None) -> None:
        super().__init__(link=link, zi=zi, theta=theta)


class ZeroInflatedGammaFamily(ZeroPartFamily):
    """The Gamma hurdle (glmmTMB's ``ziGamma`` with a ``ziformula``): P(y = 0) = zi, positive
    values (1 - zi) Gamma(y; shape, mu / shape)."""

    name = "zigamma"
    aliases = ("ziGamma", "gamma_hurdle")
    links = GammaFamily.links
    base_family, kind = GammaFamily, "hurdle"

    def __init__(self, shape: float | None = None, zi: float | None = None, link=None) -> None:
        super().__init__(link=link, zi=zi, shape=shape)
