"""The process settings a fit runs under are the fit's own: numpy's huge-page advice is off
inside a fit and restored after it, whatever it was (and also when the fit raises)."""

from __future__ import annotations

import pytest

import interlace
from interlace.errors import InterlaceError
from interlace.linalg.fit_limits import fit_limits
from interlace.linalg.pages import _madvise_setter

setter = _madvise_setter()
pytestmark = pytest.mark.skipif(setter is None, reason="this numpy has no huge-page switch")


@pytest.mark.parametrize("before", [True, False])
def test_fit_restores_numpy_page_advice(before):
    cbpp = interlace.load_dataset("cbpp")
    setter(before)
    try:
        with fit_limits():
            assert setter(False) is False  # inside: no advice
        interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                        family="binomial")
        assert setter(before) is before  # after the fit: as it was
        with pytest.raises(InterlaceError):
            interlace.glmer("cbind(incidence, size - incidence) ~ nope + (1 | herd)", cbpp,
                            family="binomial")
        assert setter(before) is before  # after a failed fit too
    finally:
        setter(True)
