r"""What the API pages say, computed without Sphinx (so the tests run it anywhere).

``join_module_docstring``: "module" / "docstring" split over two lines of a docstring put back
on one, for the link ``mgr_docs.module_docstring_links`` makes of them;
``public_names_by_object``: every public name of each class and function, for the aliases and
the mini-galleries of ``mgr_docs.alias_public_names``. Used by :mod:`mgr_docs` and conf.py.
"""
import importlib
import re


def _public_names(module_name):
    """``(full name, object)`` for each name in the module's ``__all__`` but its submodules."""
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if isinstance(obj, type(module)):
            continue
        yield f"{module_name}.{name}", obj


def join_module_docstring(lines):
    """Put "module" / "docstring" split over two lines back on the first, in place, with the
    punctuation that follows "docstring" (``"(module" / "docstring), and"`` ->
    ``"(module docstring)," / "and"``): a line may not start with the punctuation, which the
    line break would show as a space before it. A continuation line left empty is dropped,
    as a blank line would end the paragraph."""
    i = 0
    while i < len(lines) - 1:
        head, rest = lines[i].rstrip(), lines[i + 1].lstrip()
        moved = re.match(r"docstring\b[^\w\s`]*", rest)
        if re.search(r"(?<![\w`])module$", head) and moved and head.count("``") % 2 == 0:
            lines[i] = head + " " + moved.group()
            left = rest[moved.end():].lstrip()
            if left:
                lines[i + 1] = lines[i + 1][:len(lines[i + 1]) - len(rest)] + left
            else:
                del lines[i + 1]
        i += 1


def public_names_by_object(module_names):
    """``{public name: every public name of the same object}`` for the classes and functions
    in the ``__all__`` of ``module_names``, with the name of the module that defines each:
    ``minigraphrec.metrics.evaluate`` and ``minigraphrec.evaluate`` are one function."""
    groups = {}
    for module_name in module_names:
        for full, obj in _public_names(module_name):
            if not (isinstance(obj, type) or callable(obj)) or not hasattr(obj, "__qualname__"):
                continue                                  # constants: equal values share ids
            names = groups.setdefault(id(obj), set())
            names.add(full)
            if getattr(obj, "__module__", None):
                names.add(f"{obj.__module__}.{obj.__qualname__}")
    return {full: sorted(names) for names in groups.values() for full in names}
