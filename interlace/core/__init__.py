"""The pipeline: formula -> design -> penalised system -> PIRLS -> objective -> fitting -> result."""
