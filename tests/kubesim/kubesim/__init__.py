"""Stand-in Kubernetes cluster for tests (kubeadm, kubelet, API server, controllers)."""
