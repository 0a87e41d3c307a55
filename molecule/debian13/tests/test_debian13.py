"""Verify step of the "debian13" scenario: the shared checks from tests/molecule/ (one copy for every scenario)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "molecule"))

from kf_molecule.node import (  # noqa: E402 -- after the sys.path insertion above
    test_swap_is_off,
    test_kernel_modules_available_now_and_listed_for_boot,
    test_sysctls_are_one_and_persisted,
    test_chrony_configured_and_enabled,
)
from kf_molecule.runtime import (  # noqa: E402 -- after the sys.path insertion above
    test_containerd_2_installed_enabled_active,
    test_containerd_config,
    test_crictl_points_at_containerd,
    test_cri_answers_on_the_socket,
)
from kf_molecule.cluster import (  # noqa: E402 -- after the sys.path insertion above
    test_kube_packages_pinned_and_held,
    test_kubelet_enabled_and_active,
    test_admin_kubeconfigs_are_0600,
    test_static_pods_use_the_image_repository,
    test_nodes_ready_and_cni_pods_running_kubectl_on_control_plane,
    test_nodes_ready_kubectl_from_the_controller,
)
from kf_molecule.no_firewall import (  # noqa: E402 -- after the sys.path insertion above
    test_no_firewall_installed_or_enabled,
)

# the shared checks this scenario runs (pytest collects them from this module)
__all__ = [
    "test_swap_is_off",
    "test_kernel_modules_available_now_and_listed_for_boot",
    "test_sysctls_are_one_and_persisted",
    "test_chrony_configured_and_enabled",
    "test_containerd_2_installed_enabled_active",
    "test_containerd_config",
    "test_crictl_points_at_containerd",
    "test_cri_answers_on_the_socket",
    "test_kube_packages_pinned_and_held",
    "test_kubelet_enabled_and_active",
    "test_admin_kubeconfigs_are_0600",
    "test_static_pods_use_the_image_repository",
    "test_nodes_ready_and_cni_pods_running_kubectl_on_control_plane",
    "test_nodes_ready_kubectl_from_the_controller",
    "test_no_firewall_installed_or_enabled",
]
