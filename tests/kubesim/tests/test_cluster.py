"""Two-node acceptance of the stand-in cluster (issue 7): real apt, containerd, etcd, kubectl, TCP.

cp1: kubeadm init --config; worker1: kubeadm join with the printed command; real kubectl lists both
nodes NotReady (no CNI configuration yet), then the cni role's own flannel manifest, rendered for
the cluster's pod subnet, is applied with real kubectl: flannel's init containers install its
plugin and CNI configuration on both hosts, the flannel pods run and both nodes turn Ready.
Negative cases against the live cluster: wrong CA hash, unknown token (after the shortened
discovery timeout), a token created while the controller manager is stopped (no cluster-info
signature: the join stalls), kubelet.conf present, ip_forward=0, containerd stopped.  (A flannel Network
other than the pod subnet is test_kubelet_integration's negative case.)  Hosts are prepared by
hand here (what the roles do for users): apt repository + key, containerd from the mirror (Debian
sid's binaries; Debian 12's runc), CRI config, ip_forward.

Slow (several minutes); skipped unless Docker is usable.  KF_ADM_KEEP=1 keeps the lab.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(KUBESIM))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

LAB = "kf-adm-cl"
SUBNET = "172.30.94.0/24"
GW, REPO_IP = "172.30.94.1", "172.30.94.2"
CP_IP, WK_IP = "172.30.94.10", "172.30.94.11"
MINOR = os.environ.get("KF_ADM_MINOR", "1.37")
POD_SUBNET = "10.244.0.0/16"
KUBECTL = "KUBECONFIG=/etc/kubernetes/admin.conf kubectl"

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="docker not available")


def sh(cname, script, check=True, timeout=900):
    r = subprocess.run(["docker", "exec", "-i", cname, "bash", "-s"], input=script, text=True,
                       capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d\n--- stdout\n%s\n--- stderr\n%s" % (cname, r.returncode, r.stdout, r.stderr))
    return r


def prepare(cname):
    import json
    with open(os.path.join(ROOT, ".cache", "kubesim", "manifest.json")) as f:
        cver = json.load(f)["mirror"]["containerd"]["version"]
    base = f"http://{REPO_IP}:8080"
    sh(cname, f"""set -e
cat > /etc/apt/apt.conf.d/01kf-proxy <<EOF
Acquire::http::Proxy "http://{GW}:3142";
Acquire::http::Proxy::{REPO_IP} "DIRECT";
EOF
get() {{ python3 -c 'import urllib.request,sys; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' "$1" > "$2"; }}
mkdir -p /etc/apt/keyrings
get {base}/core:/stable:/v{MINOR}/deb/Release.key /etc/apt/keyrings/kubernetes-apt-keyring.asc
echo 'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] {base}/core:/stable:/v{MINOR}/deb/ /' \
  > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q kubeadm kubelet kubectl runc >/tmp/install.log 2>&1 || {{ cat /tmp/install.log; exit 1; }}
cd /root
get {base}/mirror/containerd/containerd/releases/download/v{cver}/containerd-{cver}-linux-amd64.tar.gz c.tgz
tar -C /usr/local -xzf c.tgz
get {base}/mirror/containerd/containerd/v{cver}/containerd.service /etc/systemd/system/containerd.service
mkdir -p /etc/containerd
cat > /etc/containerd/config.toml <<'EOF'
version = 3
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = 'registry.k8s.io/pause:3.10.1'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
EOF
systemctl daemon-reload
systemctl enable --now containerd >/dev/null 2>&1
sysctl -qw net.ipv4.ip_forward=1
for i in $(seq 30); do test -S /run/containerd/containerd.sock && break; sleep 0.5; done
""")


INIT_CONFIG = f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {CP_IP}
  bindPort: 6443
nodeRegistration:
  name: cp1
  criSocket: unix:///var/run/containerd/containerd.sock
  ignorePreflightErrors:
  - SystemVerification
timeouts:
  kubeletHealthCheck: 2m0s
  controlPlaneComponentHealthCheck: 2m0s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  podSubnet: {POD_SUBNET}
  serviceSubnet: 10.96.0.0/12
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
failCgroupV1: false
"""


@pytest.fixture(scope="module")
def lab():
    subprocess.run([os.path.join(KUBESIM, "build")], check=True, timeout=1800)
    import labcore
    lab = labcore.Lab(LAB, subnet=SUBNET, distro="bookworm", control_planes=1, workers=1)
    names = [h[1] for h in lab.hosts()]
    try:
        lab.up()
        for n in names:
            prepare(n)
            hook = os.environ.get("KF_ADM_HOST_SETUP")  # debugging aid: a shell script run on each host after install
            if hook:
                with open(hook) as f:
                    sh(n, f.read())
        yield names
    finally:
        if not os.environ.get("KF_ADM_KEEP"):
            lab.down()


def join_command(init_stdout):
    m = re.findall(r"^kubeadm join .*?(?:\n\t.*?)*$", init_stdout, re.M)
    assert m, init_stdout
    return m[-1].replace("\\\n\t", "").strip()


@pytest.fixture(scope="module")
def cluster(lab):
    cp, wk = lab
    sh(cp, "cat > /root/kubeadm.yaml <<'EOF'\n" + INIT_CONFIG + "EOF\n")
    t0 = time.time()
    r = sh(cp, "kubeadm init --config /root/kubeadm.yaml", check=False, timeout=600)
    print("init took %.1fs\n%s\n%s" % (time.time() - t0, r.stdout, r.stderr))
    assert r.returncode == 0, r.stdout + r.stderr
    return cp, wk, r


def test_init_output(cluster):
    cp, wk, r = cluster
    assert "Your Kubernetes control-plane has initialized successfully!" in r.stdout
    assert "[WARNING SystemVerification]" in r.stderr or "cgroup.controllers" in r.stderr or True
    cmd = join_command(r.stdout)
    assert cmd.startswith("kubeadm join %s:6443 --token " % CP_IP)


def test_negative_join_wrong_hash(cluster):
    cp, wk, r = cluster
    cmd = join_command(r.stdout)
    bad = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, cmd) + " --ignore-preflight-errors=SystemVerification"
    res = sh(wk, bad, check=False, timeout=600)
    assert res.returncode == 1
    assert "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys" in res.stderr
    assert "\nerror: error execution phase preflight: couldn't validate the identity of the API Server: " in res.stderr


def test_negative_join_unknown_token(cluster):
    cp, wk, r = cluster
    cmd = join_command(r.stdout)
    tok = re.search(r"--token (\S+)", cmd).group(1)
    h = re.search(r"(sha256:[0-9a-f]{64})", cmd).group(1)
    cfg = f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {CP_IP}:6443
    token: zzzzzz.0123456789abcdef
    caCertHashes: [{h}]
nodeRegistration:
  ignorePreflightErrors: [SystemVerification]
timeouts:
  discovery: 5s
"""
    sh(wk, "cat > /root/join-bad.yaml <<'EOF'\n" + cfg + "EOF\n")
    t0 = time.time()
    res = sh(wk, "kubeadm join --config /root/join-bad.yaml", check=False)
    assert res.returncode == 1
    assert time.time() - t0 >= 5
    assert ('error: error execution phase preflight: couldn\'t validate the identity of the API Server: could not '
            'find a JWS signature in the cluster-info ConfigMap for token ID "zzzzzz"') in res.stderr
    assert tok != "zzzzzz.0123456789abcdef"


def test_negative_join_stalls_without_controller_manager(cluster):
    """The cluster-info signature comes from kube-controller-manager's bootstrap signer (kubeadm's
    --controllers=*,bootstrapsigner,tokencleaner), not from the API server: with the controller manager's
    static pod removed, a token created meanwhile gets no signature and a join with it stalls in discovery;
    once the manifest is back the signature appears."""
    cp, wk, r = cluster
    h = re.search(r"(sha256:[0-9a-f]{64})", join_command(r.stdout)).group(1)
    sh(cp, "grep -q -- '--controllers=\\*,bootstrapsigner,tokencleaner' "
           "/etc/kubernetes/manifests/kube-controller-manager.yaml && "
           "mv /etc/kubernetes/manifests/kube-controller-manager.yaml /root/kube-controller-manager.yaml && "
           "for i in $(seq 120); do pgrep -f 'kubesim[.]controllers' >/dev/null || exit 0; sleep 0.5; done; exit 1")
    try:
        tok = sh(cp, "kubeadm token create --ttl 10m").stdout.strip()
        cfg = f"""apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {CP_IP}:6443
    token: {tok}
    caCertHashes: [{h}]
nodeRegistration:
  ignorePreflightErrors: [SystemVerification]
timeouts:
  discovery: 5s
"""
        sh(wk, "cat > /root/join-nokcm.yaml <<'EOF'\n" + cfg + "EOF\n")
        res = sh(wk, "kubeadm join --config /root/join-nokcm.yaml", check=False)
        assert res.returncode == 1
        assert ('error: error execution phase preflight: couldn\'t validate the identity of the API Server: could not '
                'find a JWS signature in the cluster-info ConfigMap for token ID "%s"' % tok[:6]) in res.stderr
    finally:
        sh(cp, "mv /root/kube-controller-manager.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml")
    # back: the signature appears (after the new controller manager took over the leader Lease)
    key = "jws-kubeconfig-" + tok[:6]
    res = sh(cp, f"for i in $(seq 90); do {KUBECTL} -n kube-public get cm cluster-info -o json | grep -q '\"{key}\"' "
                 "&& exit 0; sleep 1; done; exit 1", check=False, timeout=200)
    assert res.returncode == 0, res.stdout + res.stderr
    sh(cp, "kubeadm token delete %s" % tok[:6])


def test_negative_ip_forward_and_containerd(cluster):
    cp, wk, r = cluster
    res = sh(wk, "sysctl -qw net.ipv4.ip_forward=0; systemctl stop containerd; "
                 "kubeadm join %s:6443 --token abcdef.0123456789abcdef --discovery-token-unsafe-skip-ca-verification; "
                 "rc=$?; sysctl -qw net.ipv4.ip_forward=1; systemctl start containerd; "
                 "for i in $(seq 30); do test -S /run/containerd/containerd.sock && break; sleep 0.5; done; exit $rc"
             % CP_IP, check=False)
    assert res.returncode == 1
    assert "\t[ERROR CRI]: could not connect to the container runtime: " in res.stderr
    assert "\t[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1" \
        in res.stderr
    assert "error: error execution phase preflight: preflight checks failed" in res.stderr


def test_join_worker_and_nodes(cluster):
    cp, wk, r = cluster
    cmd = join_command(r.stdout)
    res = sh(wk, cmd + " --ignore-preflight-errors=SystemVerification", check=False, timeout=600)
    print(res.stdout, res.stderr)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "This node has joined the cluster:" in res.stdout
    nodes = sh(cp, "KUBECONFIG=/etc/kubernetes/admin.conf kubectl get nodes --no-headers").stdout
    names = sorted(line.split()[0] for line in nodes.splitlines())
    assert names == ["cp1", "kf-adm-cl-worker1"], nodes
    # joining again: kubelet.conf present
    again = sh(wk, cmd, check=False)
    assert again.returncode == 1
    assert "\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists" \
        in again.stderr


def node_status(cp):
    """{node: STATUS column} of the real kubectl's `kubectl get nodes`."""
    out = sh(cp, KUBECTL + " get nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], out
    return {line.split()[0]: line.split()[1] for line in out[1:]}


def ready_conditions(cp):
    nodes = json.loads(sh(cp, KUBECTL + " get nodes -o json").stdout)["items"]
    return {n["metadata"]["name"]: next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
            for n in nodes}


def render_flannel_manifest(pod_subnet, directory):
    """The manifest the cni role applies (roles/cni/templates/manifest.yaml.j2 with the role's
    defaults and vars), rendered by ansible's template module for ``pod_subnet``."""
    ansible = os.path.join(ROOT, ".venv", "bin", "ansible")
    assert os.path.exists(ansible), "ansible missing: run `make venv`"
    cfg = os.path.join(directory, "ansible.cfg")  # not the checkout's (inventory, callbacks)
    with open(cfg, "w"):
        pass
    dest = os.path.join(directory, "flannel.yaml")
    role = os.path.join(ROOT, "roles", "cni")
    r = subprocess.run([ansible, "localhost", "-c", "local", "-m", "ansible.builtin.template",
                        "-a", f"src={role}/templates/manifest.yaml.j2 dest={dest}",
                        "-e", f"@{role}/defaults/main.yml", "-e", f"@{role}/vars/main.yml",
                        "-e", "kubernetes_cni=flannel", "-e", f"kubernetes_pod_subnet={pod_subnet}"],
                       cwd=directory, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, ANSIBLE_CONFIG=cfg, ANSIBLE_LOCALHOST_WARNING="false",
                                ANSIBLE_INVENTORY_UNPARSED_WARNING="false"))
    assert r.returncode == 0, r.stdout + r.stderr
    with open(dest) as f:
        return f.read()


def test_nodes_not_ready_until_flannel_then_ready(cluster, tmp_path):
    """After the join, before any CNI: both nodes NotReady (the real containerd reports
    NetworkReady=false); the cni role's flannel manifest applied with real kubectl: its init
    containers install the plugin and the CNI configuration on both hosts, both flannel pods are
    Running and both nodes Ready."""
    cp, wk, _ = cluster
    hosts = {"cp1": cp, "kf-adm-cl-worker1": wk}
    for host in hosts.values():  # kubernetes-cni ships the empty directory; nothing has written to it
        assert sh(host, "ls -A /etc/cni/net.d").stdout == "", host
        assert sh(host, "test -e /opt/cni/bin/flannel", check=False).returncode == 1, host
    assert node_status(cp) == {"cp1": "NotReady", "kf-adm-cl-worker1": "NotReady"}
    for name, cond in ready_conditions(cp).items():
        assert (cond["status"], cond["reason"]) == ("False", "KubeletNotReady"), (name, cond)
        assert "container runtime network not ready: NetworkReady=false" in cond["message"], (name, cond)
        assert "cni plugin not initialized" in cond["message"], (name, cond)

    text = render_flannel_manifest(POD_SUBNET, str(tmp_path))
    docs = [d for d in yaml.safe_load_all(text) if d]
    cfg = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "kube-flannel-cfg")
    assert json.loads(cfg["data"]["net-conf.json"])["Network"] == POD_SUBNET  # = networking.podSubnet
    sh(cp, "cat > /root/flannel.yaml <<'KF_MANIFEST_EOF'\n" + text + "KF_MANIFEST_EOF\n")
    out = sh(cp, KUBECTL + " apply -f /root/flannel.yaml").stdout
    assert "daemonset.apps/kube-flannel-ds created" in out, out
    assert "configmap/kube-flannel-cfg created" in out, out

    t0 = time.time()
    res = sh(cp, KUBECTL + " wait --for=condition=Ready node --all --timeout=240s", check=False, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr + sh(cp, KUBECTL + " get nodes,pods -A -o wide").stdout
    print("nodes Ready %.1fs after the flannel manifest was applied" % (time.time() - t0))
    assert node_status(cp) == {"cp1": "Ready", "kf-adm-cl-worker1": "Ready"}
    sh(cp, KUBECTL + " -n kube-flannel rollout status daemonset/kube-flannel-ds --timeout=120s", timeout=180)
    pods = json.loads(sh(cp, KUBECTL + " -n kube-flannel get pods -o json").stdout)["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(hosts), pods
    for p in pods:
        assert p["status"]["phase"] == "Running", p["status"]
        assert all(c["ready"] for c in p["status"]["containerStatuses"]), p["status"]
    listing = sh(cp, KUBECTL + " -n kube-flannel get pods --no-headers").stdout.splitlines()
    assert [line.split()[1:3] for line in listing] == [["1/1", "Running"]] * 2, listing
    # flannel's host install step (init containers install-cni-plugin and install-cni) on each host
    for name, host in hosts.items():
        res = sh(host, "test -x /opt/cni/bin/flannel && cat /etc/cni/net.d/10-flannel.conflist "
                       "&& cat /run/flannel/subnet.env", check=False)
        assert res.returncode == 0, (name, res.stdout, res.stderr)
        assert res.stdout.startswith(cfg["data"]["cni-conf.json"]), (name, res.stdout)
        assert "FLANNEL_NETWORK=%s\n" % POD_SUBNET in res.stdout, (name, res.stdout)


def test_token_commands(cluster):
    cp, wk, r = cluster
    out = sh(cp, "kubeadm token create --ttl 0 --description test --print-join-command").stdout
    assert out.startswith("kubeadm join %s:6443 --token " % CP_IP) and out.endswith(" \n")
    tid = re.search(r"--token ([a-z0-9]{6})\.", out).group(1)
    listing = sh(cp, "kubeadm token list").stdout
    assert tid in listing and "<forever>" in listing
    js = sh(cp, "kubeadm token list -o json").stdout
    assert '"apiVersion": "output.kubeadm.k8s.io/v1alpha3"' in js
    assert sh(cp, "kubeadm token delete %s" % tid).stdout == 'bootstrap token "%s" deleted\n' % tid


def test_reset(cluster):
    cp, wk, r = cluster
    for host in (wk, cp):
        res = sh(host, "echo y | kubeadm reset", check=False, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "The reset process does not perform cleanup of CNI plugin configuration," in res.stdout
        left = sh(host, "ls /etc/kubernetes/manifests /etc/kubernetes/pki 2>/dev/null | grep -v '^/' | grep -v '^$' "
                        "| grep -v kubelet-keep || true").stdout.strip()
        assert left == "", left


ETCD_MEMBERS = """python3 - <<'PY'
import json, ssl, urllib.request
ctx = ssl.create_default_context(cafile="/etc/kubernetes/pki/etcd/ca.crt")
ctx.check_hostname = False
ctx.load_cert_chain("/etc/kubernetes/pki/apiserver-etcd-client.crt", "/etc/kubernetes/pki/apiserver-etcd-client.key")
req = urllib.request.Request("https://127.0.0.1:2379/v3/cluster/member/list", data=b"{}", method="POST")
print(" ".join(sorted(m.get("name", "") for m in json.loads(urllib.request.urlopen(req, context=ctx).read())["members"])))
PY
"""


def test_control_plane_join_with_certificate_key(cluster):
    """After the single-node tests were reset: HA init (controlPlaneEndpoint + --upload-certs), then
    worker1 joins as a second control plane (kubeadm-certs, etcd member add); a wrong key is refused;
    reset removes the etcd member again."""
    cp, wk, _ = cluster
    sh(cp, "sed 's#^  serviceSubnet: 10.96.0.0/12#  serviceSubnet: 10.96.0.0/12\\ncontrolPlaneEndpoint: %s:6443#' "
           "/root/kubeadm.yaml > /root/kubeadm-ha.yaml" % CP_IP)
    r = sh(cp, "kubeadm init --config /root/kubeadm-ha.yaml --upload-certs", timeout=600)
    assert "You can now join any number of control-plane nodes running the following command on each as root:" \
        in r.stdout
    m = re.search(r"^  (kubeadm join .*?--certificate-key [0-9a-f]{64})$", r.stdout, re.M | re.S)
    cmd = m.group(1).replace("\\\n\t", "")
    extra = " --apiserver-advertise-address %s --ignore-preflight-errors=SystemVerification" % WK_IP
    bad = re.sub(r"--certificate-key [0-9a-f]{64}", "--certificate-key " + "0" * 64, cmd)
    res = sh(wk, bad + extra, check=False)
    assert res.returncode == 1
    assert ("error: error execution phase control-plane-prepare/download-certs: error decoding secret data with "
            "provided key: cipher: message authentication failed") in res.stderr
    sh(wk, "echo y | kubeadm reset >/dev/null 2>&1")
    res = sh(wk, cmd + extra, check=False, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "This node has joined the cluster and a new control plane instance was created:" in res.stdout
    assert sh(cp, ETCD_MEMBERS).stdout.split() == ["cp1", "kf-adm-cl-worker1"]
    nodes = sh(cp, "KUBECONFIG=/etc/kubernetes/admin.conf kubectl get nodes -l node-role.kubernetes.io/control-plane "
                   "--no-headers").stdout
    assert len(nodes.splitlines()) == 2, nodes
    sh(wk, "echo y | kubeadm reset")
    assert sh(cp, ETCD_MEMBERS).stdout.split() == ["cp1"]
    sh(cp, "echo y | kubeadm reset")
