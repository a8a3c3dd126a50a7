"""Imported by the build's forkserver (``set_forkserver_preload``): die with the main process.

The forkserver is started by the build's main process; when that process is SIGKILLed,
nothing else tells the forkserver (or the workers it forks) to stop, and they stay alive
holding hundreds of MB. ``PR_SET_PDEATHSIG`` makes the kernel send SIGKILL to this process
when its parent dies (Linux; a no-op elsewhere). Workers arm their own watch in
:func:`motionpair.workers.init_worker`.
"""

from motionpair.workers import die_with_parent

die_with_parent()
