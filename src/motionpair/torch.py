"""``motionpair.torch``: import alias of :mod:`motionpair.consumers.loader` (the torch Dataset).

Kept so that ``from motionpair.torch import MotionPairDataset`` (the README's spelling) keeps
working; new code imports :mod:`motionpair.consumers.loader`.
"""

from motionpair.consumers.loader import META_KEYS, MotionPairDataset, available_arrays, collate

__all__ = ["META_KEYS", "MotionPairDataset", "available_arrays", "collate"]
