"""Extra CLI commands: each module here defines ``register(app: typer.Typer) -> None``.

``motionpair.cli`` registers every module of this package, sorted by name, so a
new command is one new file and never an edit of the core CLI.
"""
