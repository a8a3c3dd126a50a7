"""Stage 3, align: the clock that maps motion time to song time, and the evidence for it."""
