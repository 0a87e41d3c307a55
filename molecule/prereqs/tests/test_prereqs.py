"""Verify step of the "prereqs" scenario: the shared checks from tests/molecule/ (one copy for every scenario)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "molecule"))

from kf_molecule.node import (  # noqa: E402 -- after the sys.path insertion above
    test_swap_is_off,
    test_kernel_modules_available_now_and_listed_for_boot,
    test_sysctls_are_one_and_persisted,
    test_chrony_configured_and_enabled,
    test_kubeadm_preflight_executables_in_path,
)

# the shared checks this scenario runs (pytest collects them from this module)
__all__ = [
    "test_swap_is_off",
    "test_kernel_modules_available_now_and_listed_for_boot",
    "test_sysctls_are_one_and_persisted",
    "test_chrony_configured_and_enabled",
    "test_kubeadm_preflight_executables_in_path",
]


def test_package_proxy_file_is_root_only(host):
    """The apt proxy URL may carry credentials: the file is root's alone (roles/prereqs/tasks/proxy-Debian.yml)."""
    proxy = host.file("/etc/apt/apt.conf.d/90kubeforge-proxy")
    assert proxy.exists
    assert (proxy.user, proxy.group, proxy.mode) == ("root", "root", 0o600)
    assert "Acquire::http::Proxy" in host.check_output("cat /etc/apt/apt.conf.d/90kubeforge-proxy")


__all__ += ["test_package_proxy_file_is_root_only"]
