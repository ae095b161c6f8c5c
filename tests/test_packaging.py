"""The declared dependency bounds and the job that tests them (``.ci/min-versions``)."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _release(version):
    return tuple(int(part) for part in version.split("."))


def _declared_lower_bounds():
    """``{name: lower bound}`` of the runtime and test dependencies in pyproject.toml."""
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", spec)
        assert match, f"pyproject.toml: {spec!r} is not 'name>=version'; .ci/min-versions " \
                      f"needs a lower bound to test"
        bounds[match[1].lower()] = match[2]
    return bounds


def _pinned():
    """``{name: version}`` of ``.ci/minimum-versions.txt``."""
    pins = {}
    for n, line in enumerate((ROOT / ".ci" / "minimum-versions.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9.]+)", line)
            assert match, f".ci/minimum-versions.txt:{n}: {line!r} is not 'name==version'"
            pins[match[1].lower()] = match[2]
    return pins


def test_the_minimum_versions_job_pins_every_declared_lower_bound():
    """Each pin is a release of its lower bound's series (``>=1.24`` pinned to ``1.24.x``),
    and every runtime and test dependency is pinned, nothing else: raising a bound in
    pyproject.toml without the job, or the job without the bound, fails here."""
    bounds, pins = _declared_lower_bounds(), _pinned()
    assert sorted(pins) == sorted(bounds)
    for name, lower in bounds.items():
        pinned = _release(pins[name])
        assert pinned >= _release(lower), (name, pins[name], lower)
        assert pinned[:len(_release(lower))] == _release(lower), (name, pins[name], lower)


def test_the_minimum_versions_job_installs_with_the_pins_and_runs_the_readme_tests():
    script = (ROOT / ".ci" / "min-versions").read_text()
    assert '--constraint .ci/minimum-versions.txt ".[test]"' in script
    readme = (ROOT / "README.md").read_text()
    assert "python -m pytest" in readme and script.rstrip().endswith("python -m pytest")
