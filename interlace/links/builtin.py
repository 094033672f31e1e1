"""Entry-point module registering the built-in links (as a third-party plugin would)."""

from __future__ import annotations

from interlace.links.cauchit import CauchitLink
from interlace.links.cloglog import CloglogLink
from interlace.links.identity import IdentityLink
from interlace.links.inverse import InverseLink
from interlace.links.log import LogLink
from interlace.links.logit import LogitLink
from interlace.links.probit import ProbitLink
from interlace.links.sqrt import SqrtLink
from interlace.registry.hookspecs import hookimpl


@hookimpl
def interlace_links():
    return [LogitLink, ProbitLink, CloglogLink, CauchitLink, LogLink, IdentityLink, SqrtLink,
            InverseLink]
