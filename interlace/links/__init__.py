"""Link plugins: g(mu) = eta. The contract is in :mod:`interlace.links.base`."""

from interlace.links.base import Link

__all__ = ["Link"]
