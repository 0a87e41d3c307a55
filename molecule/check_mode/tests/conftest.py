"""Verify-step plugins shared by every scenario: per-host checks are deselected where they do not apply
(kf_molecule.selection) and a skipped check fails the run (tests/pytest_noskip.py)."""
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[3] / "tests"
for path in (TESTS, TESTS / "molecule"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import pytest_noskip  # noqa: E402 -- needs the path above
from kf_molecule import selection  # noqa: E402 -- needs the path above

# pytest finds hooks by name in a conftest module.
pytest_configure = selection.pytest_configure
pytest_collection_modifyitems = selection.pytest_collection_modifyitems
pytest_runtest_makereport = pytest_noskip.pytest_runtest_makereport
