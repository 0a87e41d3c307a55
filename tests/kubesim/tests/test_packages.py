"""The stand-in packages, installed with apt from the served, signed repository on a lab host.

Builds with tests/kubesim/build, brings up a one-host lab (tests/lab/labcore.py: internal network,
repository server at .2:8080 serving .cache/kubesim/www, apt-cacher-ng at .1:3142) and checks, on a
systemd container: apt verifies the signature (Signed-By a keyring made from Release.key, and a
wrong key is refused), package versions, dependencies, files and unit state; the containerd
mirror's tarball and checksums; switching to the v1.36 repository.

Slow (about 2-4 minutes); skipped unless Docker is usable.  KF_ADM_KEEP=1 keeps the lab.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(KUBESIM))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

LAB = "kf-adm-pkg"
SUBNET = "172.30.93.0/24"
REPO_IP = "172.30.93.2"
GW = "172.30.93.1"

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="docker not available")


def sh(cname, script, check=True):
    r = subprocess.run(["docker", "exec", "-i", cname, "bash", "-s"], input=script, text=True,
                       capture_output=True, timeout=900)
    if check and r.returncode != 0:
        raise AssertionError("exit %d\n--- stdout\n%s\n--- stderr\n%s" % (r.returncode, r.stdout, r.stderr))
    return r


@pytest.fixture(scope="module")
def host():
    subprocess.run([os.path.join(KUBESIM, "build")], check=True, timeout=1800)
    import labcore
    lab = labcore.Lab(LAB, subnet=SUBNET, distro="bookworm", control_planes=1, workers=0)
    cname = lab.hosts()[0][1]
    try:
        lab.up()
        sh(cname, f"""set -e
cat > /etc/apt/apt.conf.d/01kf-proxy <<EOF
Acquire::http::Proxy "http://{GW}:3142";
Acquire::http::Proxy::{REPO_IP} "DIRECT";
EOF
""")
        yield cname
    finally:
        if not os.environ.get("KF_ADM_KEEP"):
            lab.down()


def manifest():
    with open(os.path.join(ROOT, ".cache", "kubesim", "manifest.json")) as f:
        return json.load(f)


def fetch_key(cname, minor, dest):
    sh(cname, f"""set -e
mkdir -p /etc/apt/keyrings
python3 -c 'import urllib.request,sys; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
  "http://{REPO_IP}:8080/core:/stable:/v{minor}/deb/Release.key" > {dest}
""")


def test_wrong_key_is_refused(host):
    # A keyring that did not sign the repository: apt must refuse the index.
    sh(host, f"""set -e
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://{REPO_IP}:8080/core:/stable:/v1.37/deb/ /' \
  > /etc/apt/sources.list.d/kubernetes.list
""")
    r = sh(host, "apt-get update 2>&1", check=False)
    text = r.stdout + r.stderr
    assert "NO_PUBKEY" in text or "couldn't be verified" in text or "is not signed" in text, text
    sh(host, "rm -f /etc/apt/sources.list.d/kubernetes.list; rm -rf /var/lib/apt/lists/172.30.93.2*")


def test_install_v137_from_signed_repo(host):
    fetch_key(host, "1.37", "/etc/apt/keyrings/kubernetes-apt-keyring.asc")
    sh(host, f"""set -e
echo 'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] http://{REPO_IP}:8080/core:/stable:/v1.37/deb/ /' \
  > /etc/apt/sources.list.d/kubernetes.list
""")
    r = sh(host, "apt-get update 2>&1")
    assert "W:" not in r.stdout and "Err:" not in r.stdout, r.stdout
    pol = sh(host, "apt-cache policy kubeadm kubelet kubectl kubernetes-cni").stdout
    assert "Candidate: 1.37.1-1.1" in pol, pol
    sh(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q kubeadm kubelet kubectl >/tmp/install.log 2>&1 "
             "|| { cat /tmp/install.log; exit 1; }")
    vers = sh(host, "dpkg-query -W -f '${Package} ${Version}\\n' kubeadm kubelet kubectl kubernetes-cni etcd-server").stdout
    got = dict(line.split() for line in vers.splitlines())
    cni = manifest()["kubernetes_cni"]["version"]
    assert got["kubeadm"] == got["kubelet"] == got["kubectl"] == "1.37.1-1.1"
    assert got["kubernetes-cni"] == cni
    assert got["etcd-server"].startswith("3.4.")


def test_installed_files_and_units(host):
    r = sh(host, """set -e
kubeadm version -o short
kubectl version --client -o json
test -x /usr/bin/kubelet && test -f /usr/lib/kubesim-kubelet/VERSION && cat /usr/lib/kubesim-kubelet/VERSION
test -f /usr/lib/systemd/system/kubelet.service
test -f /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf
systemctl cat kubelet.service | grep -c 'ExecStart=/usr/bin/kubelet \\$KUBELET_KUBECONFIG_ARGS'
systemctl is-enabled kubelet.service
systemctl is-enabled etcd.service || true
ls -A /var/lib/etcd | wc -l
ls /opt/cni/bin
test -f /etc/default/kubelet
dpkg -s kubelet | grep '^Depends:'
dpkg -s kubeadm | grep '^Depends:' || echo 'kubeadm-depends: none'
""").stdout
    lines = r.splitlines()
    assert lines[0] == "v1.37.1"
    kubectl = json.loads("\n".join(lines[1:lines.index("}") + 1]))
    assert kubectl["clientVersion"]["gitVersion"] == "v1.37.1"
    assert "1.37.1" in r
    assert "\nenabled\n" in r          # kubelet enabled, as upstream's package leaves it
    assert "masked" in r               # Debian's own etcd.service is masked: kubeadm runs etcd
    assert "\nbridge\n" in r and "\nhost-local\n" in r and "\nloopback\n" in r and "\nportmap\n" in r
    assert "Depends: kubernetes-cni (>= 1.2.0), mount, util-linux" in r
    etcd_entries = lines[lines.index("masked") + 1] if "masked" in lines else "?"
    assert etcd_entries == "0", r      # /var/lib/etcd empty (DirAvailable--var-lib-etcd)
    # not started by the package: no config.yaml yet; the unit restarts until kubeadm writes it
    st = sh(host, "systemctl is-active kubelet.service", check=False).stdout.strip()
    assert st in ("inactive", "activating", "failed"), st


def test_containerd_mirror(host):
    m = manifest()["mirror"]
    ver = m["containerd"]["version"]
    base = f"http://{REPO_IP}:8080/mirror"
    r = sh(host, f"""set -e
cd /root && rm -rf kfm && mkdir kfm && cd kfm
get() {{ python3 -c 'import urllib.request,sys; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' "$1" > "$2"; }}
get {base}/containerd/containerd/releases/download/v{ver}/containerd-{ver}-linux-amd64.tar.gz containerd-{ver}-linux-amd64.tar.gz
get {base}/containerd/containerd/releases/download/v{ver}/containerd-{ver}-linux-amd64.tar.gz.sha256sum c.sha256sum
get {base}/containerd/containerd/v{ver}/containerd.service containerd.service
sha256sum -c c.sha256sum
tar -tzf containerd-{ver}-linux-amd64.tar.gz
tar -xzf containerd-{ver}-linux-amd64.tar.gz
./bin/containerd --version
grep -c '^ExecStart=/usr/local/bin/containerd$' containerd.service
""").stdout
    assert "OK" in r
    for b in ("bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"):
        assert b in r
    assert f"containerd {ver}" in r or ver in r


def test_switch_to_v136(host):
    fetch_key(host, "1.36", "/etc/apt/keyrings/kubernetes-apt-keyring.asc")
    sh(host, f"""set -e
echo 'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] http://{REPO_IP}:8080/core:/stable:/v1.36/deb/ /' \
  > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades kubeadm=1.36.4-1.1 kubelet=1.36.4-1.1 \
  kubectl=1.36.4-1.1 >/tmp/install.log 2>&1 || {{ cat /tmp/install.log; exit 1; }}
""")
    r = sh(host, "kubeadm version -o short; kubectl version --client -o json | grep gitVersion; "
                 "cat /usr/lib/kubesim-kubelet/VERSION").stdout
    assert r.splitlines()[0] == "v1.36.4"
    assert '"v1.36.4"' in r
    assert r.splitlines()[-1] == "1.36.4"
