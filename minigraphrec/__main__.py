"""The ``minigraphrec`` command: ``python -m minigraphrec``, and the console script of
pyproject.toml (:func:`main`), which runs :func:`minigraphrec.cli.main`.

Ctrl-C ends the command with one line, ``minigraphrec: interrupted``, and status 130
(128 + SIGINT), not a traceback, from the first moment our code runs: the package's
``__init__.py`` imports nothing (its names load on first use), and the command's own
imports (NumPy, SciPy, the models) happen here, under the guard.
"""
import sys


def main():
    """The console script: :func:`minigraphrec.cli.main`, imported under a Ctrl-C guard."""
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("minigraphrec: interrupted", file=sys.stderr)
        return 130
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
