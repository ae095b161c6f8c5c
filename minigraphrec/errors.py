"""The one exception type every rejected input raises."""


class DataError(ValueError):
    """Malformed or inconsistent input data.

    The message names what was wrong and where: the file, the 1-based line
    and the problem, e.g. ``"train.txt, line 8: item id 'x' is not a
    non-negative integer"``.
    """
