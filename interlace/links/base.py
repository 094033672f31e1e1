"""The link plugin contract.

A link maps the mean ``mu`` to the linear predictor ``eta = g(mu)``. To add one, subclass
:class:`Link`, give it a ``name`` (and optional ``aliases``), implement ``link``, ``inverse``
and ``mu_eta`` (the derivative d mu / d eta), and return the class from an
``interlace_links`` hook implementation registered under the ``interlace`` entry-point group.
``d2mu_eta`` has a numerical default; override it where a closed form exists.
All methods take and return numpy arrays and must be vectorised.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from interlace.registry import declare_kind


class Link(ABC):
    """g(mu) = eta, its inverse and derivatives."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    #: The variance of the latent error whose threshold gives a binary response under this
    #: link (the standard logistic's pi²/3 for the logit, 1 for the probit, pi²/6 for the
    #: cloglog): the distribution-specific variance of Nakagawa's R²; None if it has none.
    latent_variance: float | None = None

    @abstractmethod
    def link(self, mu: np.ndarray) -> np.ndarray:
        """eta = g(mu)."""

    @abstractmethod
    def inverse(self, eta: np.ndarray) -> np.ndarray:
        """mu = g^-1(eta)."""

    @abstractmethod
    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """d mu / d eta at eta."""

    def d2mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """d^2 mu / d eta^2 (central difference unless overridden)."""
        h = 1e-5 * np.maximum(1.0, np.abs(eta))
        return (self.mu_eta(eta + h) - self.mu_eta(eta - h)) / (2 * h)

    def valid_eta(self, eta: np.ndarray) -> bool:
        """Whether every eta maps to a mean the link can produce (e.g. sqrt needs eta > 0)."""
        return bool(np.all(np.isfinite(eta)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


declare_kind("link", Link)
