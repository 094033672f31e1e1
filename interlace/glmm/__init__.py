"""Generalised linear mixed models (``interlace.glmer``): Laplace or adaptive quadrature."""
