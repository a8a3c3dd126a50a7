"""motionpair: pair music features with dance motion into reproducible training datasets."""

__version__ = "0.1.0"
