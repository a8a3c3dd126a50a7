"""MotionMix's artifacts: audio-prep NPZ playlists and LiveDirector pose sessions.

The source itself is :mod:`motionpair.sources.motionmix.source`; the other modules read one
artifact each (``audio``, ``session``, ``mapping``), find the data (``locations``) and tie
snapshots to tracks (``matching``).
"""
