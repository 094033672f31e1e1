"""Checking a fitted model: variance shares (ICC, Nakagawa's R², :mod:`.variance`), DHARMa's
simulated residuals and their tests (:mod:`.residuals`, :mod:`.residual_tests`) and lme4's
``allFit`` (:mod:`.all_fit`). The results' methods (``icc``, ``r2``, ``simulated_residuals``,
``all_fit``) are thin wrappers over these modules."""
