"""Verify step of the "container_runtime" scenario: the shared checks from tests/molecule/ (one copy for every scenario)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "molecule"))

from kf_molecule.runtime import (  # noqa: E402 -- after the sys.path insertion above
    test_containerd_2_installed_enabled_active,
    test_containerd_config,
    test_crictl_points_at_containerd,
    test_cri_answers_on_the_socket,
)

# the shared checks this scenario runs (pytest collects them from this module)
__all__ = [
    "test_containerd_2_installed_enabled_active",
    "test_containerd_config",
    "test_crictl_points_at_containerd",
    "test_cri_answers_on_the_socket",
]
