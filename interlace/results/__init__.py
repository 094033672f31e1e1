"""What every fitted model shares: the base result class (:mod:`~interlace.results.base`), its
summary sections, random-effect tables, new-data linear predictor, the residual/prediction and
GLMM-core mixins, convergence checks and likelihood-ratio comparison."""
