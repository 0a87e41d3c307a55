"""The pytest hooks every scenario's verify step uses (each molecule/<scenario>/tests/conftest.py star-imports this
module): per-host checks deselected where they do not apply (selection.py) and any skipped check failing the run."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for pytest_noskip

from pytest_noskip import pytest_runtest_makereport  # noqa: E402 -- needs the path above

from .selection import pytest_collection_modifyitems, pytest_configure

__all__ = ["pytest_collection_modifyitems", "pytest_configure", "pytest_runtest_makereport"]
