"""Imported by the build's forkserver (``audio.PRELOAD_MODULES``): librosa.beat with every
import-time compiled function loaded from numba's cache
(:func:`motionpair.features.numba_cache.import_librosa_beat`)."""

from motionpair.features.numba_cache import import_librosa_beat

import_librosa_beat()
