"""Inference after the fit: the model's parameters on their natural scale, intervals (Wald,
profile, parametric bootstrap) read off them, simulation from the fit (``simulate``), refits on
a new response (``refit``), the parametric bootstrap (``bootstrap``) and the parametric-
bootstrap likelihood-ratio test (``pbtest``)."""
