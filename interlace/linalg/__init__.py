"""Shared numerics: the blocked penalised system, numerical differences, BLAS threads."""
