"""kubelet stand-in (python3 -m kubesim.kubelet; /usr/bin/kubelet in the kubelet package).

Real: the flags kubeadm's drop-in and kubeadm-flags.env pass (unknown or removed flags such as
--pod-infra-container-image are refused as kubelet 1.35+ refuses them); config.yaml loading
(exit 1 while it is missing, so systemd restarts us until kubeadm writes it); the cgroup v1
refusal (failCgroupV1, default true from 1.35; /sys/fs/cgroup must be cgroup2); the container
runtime: CRI Version/Status/RuntimeConfig calls to the REAL containerd over its unix socket
(kubesim.kubelet.cri, gRPC over HTTP/2 in the standard library; 1.36+ refuses a runtime
without RuntimeConfig, i.e. containerd 1.x); TLS bootstrap with a real CSR signed by the API
server; Node registration, status and Lease heartbeats through the real API; node Ready from
the runtime's own RuntimeReady/NetworkReady conditions plus a CNI config in /etc/cni/net.d;
static pods from staticPodPath run as transient systemd units (the component programs, see
staticpods.py) with mirror pods; /healthz on 127.0.0.1:10248.

Real since issue 14: ordinary pods bound to the node run as containers through the runtime's
CRI (runtime.py: sandbox with the CNI plugins' network namespace, containers, status, restarts,
probes, teardown). Modelled: CNI DaemonSet pods (flannel) perform their init containers' host
install step and flanneld's start-up check (network vs node podCIDR); kube-proxy and coredns are
reported Running without running anything (their pod IPs come from the top of the node's podCIDR
and nothing answers on them).

Not covered: the kubelet API on 10250 (kubectl logs/exec/port-forward), startup probes, volumes other
than the configMap/hostPath reads flannel needs, evictions, serving-certificate rotation,
--config-dir drop-ins, standalone mode.
"""
