"""Stage 4, windows: cut aligned pairs into fixed, beat or snapshot windows and their rows."""
