"""The ``motionpair`` command line (typer)."""

from __future__ import annotations

from typing import Annotated

import typer

from motionpair import __version__, ui

# the shared names stay importable from here (tests and older command modules use them)
from motionpair.commands._shared import (  # noqa: F401
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    Group,
    JsonOpt,
    _numbers,
    out_guard,
)

app = typer.Typer(cls=Group, add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"],
                                    "max_content_width": 100},
                  help="Pair music features with dance motion into reproducible datasets.")


def _version(value: bool) -> None:
    if value:
        from motionpair.config import SCHEMA_VERSION

        typer.echo(f"motionpair {__version__} (dataset schema {SCHEMA_VERSION})")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q",
                                        help="only results and errors (no progress/notes)")]
    = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="more detail on stderr")]
    = False,
) -> None:
    """Pair music features with dance motion into reproducible datasets.

    The global options may also follow the command (``motionpair build ... -q``).
    Exit codes: 0 ok, 1 problems (failed checks, a build that could not publish, unreadable
    input), 2 usage (bad option or value, a path not found, not a dataset, a file where a
    folder is expected).
    """
    ui.STATE.quiet, ui.STATE.verbose = quiet, verbose and not quiet


def _register_commands() -> None:
    import importlib
    import pkgutil

    from motionpair import commands

    core = ("scan", "build", "verify", "preview")  # the main job's commands first in --help
    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    for mod in sorted(names, key=lambda n: (core.index(n) if n in core else len(core), n)):
        importlib.import_module(f"motionpair.commands.{mod}").register(app)


_register_commands()


def main() -> None:
    from motionpair.features import numba_cache

    numba_cache.configure()  # before anything imports numba (see motionpair.features.numba_cache)
    app()
