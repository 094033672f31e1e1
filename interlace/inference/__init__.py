"""Inference after the fit: the model's parameters on their natural scale, and intervals
(Wald, profile, parametric bootstrap) read off them."""
