"""``python -m minigraphrec``: the ``minigraphrec`` command (:func:`minigraphrec.cli.main`,
the console script of pyproject.toml), for an environment whose scripts folder is not on
the PATH."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
