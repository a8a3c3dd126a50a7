"""Stage 2, features: audio features (mel, onsets, beats) and motion features, cached by content."""
