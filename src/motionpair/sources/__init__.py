"""Stage 1, sources: each module here turns one input format into canonical types.

A source is one module providing :class:`motionpair.sources.base.Source` (found by the
registry in :mod:`motionpair.sources.base`); ``common`` holds what several sources share.
:func:`motionpair.build.scan.scan` asks every source for its units.
"""
