"""Cumulative link mixed models (``interlace.clmm``), as R's ``ordinal::clmm``."""
