"""Where per-item work runs: the local process pool (``workers.py``) or a Ray cluster.

Only :func:`resolve` lives here; :mod:`motionpair.engines.ray_engine` imports ``ray`` (the
``ray`` extra) and is imported only when a command asks for ``--engine ray``. Nothing here
knows builds or captures: callers hand in module-level functions and their arguments.
"""

from __future__ import annotations

import os

ENGINES = ("local", "ray", "auto")
#: The variable Ray itself reads for a cluster address (``ray.init(address=None)``).
RAY_ADDRESS_ENV = "RAY_ADDRESS"


def resolve(engine: str, address: str | None = None) -> tuple[str, str | None]:
    """``(kind, address)``: ``kind`` is ``"local"`` or ``"ray"``.

    ``auto`` is Ray when an address is given or ``$RAY_ADDRESS`` is set, else the local pool.
    ``ray`` without an address uses ``$RAY_ADDRESS``, else starts a Ray instance on this
    machine (``address`` None).

    >>> resolve("local")
    ('local', None)
    >>> resolve("ray", "127.0.0.1:6379")
    ('ray', '127.0.0.1:6379')
    """
    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}")
    env = os.environ.get(RAY_ADDRESS_ENV) or None
    if engine == "local":
        if address:
            raise ValueError("--address is for --engine ray (or auto)")
        return "local", None
    if engine == "auto" and not (address or env):
        return "local", None
    return "ray", address or env


def require_ray(kind: str) -> None:
    """``ValueError`` with the install line when ``kind`` is ``"ray"`` and the ``ray`` extra
    is missing (checked before any work, without importing ray)."""
    import importlib.util

    if kind == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError("--engine ray needs the ray package: pip install 'motionpair[ray]'")
