"""``python -m minigraphrec``: the ``minigraphrec`` command (:func:`minigraphrec.cli.main`,
the console script of pyproject.toml), for an environment whose scripts folder is not on
the PATH.

Ctrl-C while the command's module is imported ends as it does later: one line,
``minigraphrec: interrupted``, and status 130 (128 + SIGINT), not a traceback. (The
package itself, ``minigraphrec/__init__.py``, is imported before this file runs.)
"""
import sys

if __name__ == "__main__":
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("minigraphrec: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
