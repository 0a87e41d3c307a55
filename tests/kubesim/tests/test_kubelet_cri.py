"""The kubelet stand-in's CRI client against REAL containerd binaries (loopback unix sockets).

containerd 1.x: Debian's /usr/bin/containerd (bookworm: 1.6). containerd 2.x: the binaries
the package builder mirrors (.cache/kubesim/www/mirror/.../containerd-2.*-linux-amd64.tar.gz,
from Debian sid) or KUBESIM_TEST_CONTAINERD2=/path/to/containerd. Needs root. A missing
binary is reported as a skip with the reason (pytest -rs), never silently.
"""

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(KUBESIM))
sys.path.insert(0, KUBESIM)

from kubesim.apiserver import testenv  # noqa: E402
from kubesim.kubelet import cri  # noqa: E402


def containerd2_binary(workdir):
    env = os.environ.get("KUBESIM_TEST_CONTAINERD2")
    if env:
        return env
    tars = sorted(glob.glob(os.path.join(
        REPO, ".cache/kubesim/www/mirror/containerd/containerd/releases/download/v2*/containerd-2*-linux-amd64.tar.gz")))
    if not tars:
        return None
    with tarfile.open(tars[-1]) as tf:
        member = tf.getmember("bin/containerd")
        try:
            tf.extractall(workdir, members=[member], filter="data")
        except TypeError:  # Python without extraction filters
            tf.extractall(workdir, members=[member])
    return os.path.join(workdir, "bin", "containerd")


def containerd1_binary():
    path = shutil.which("containerd") or "/usr/bin/containerd"
    if not os.path.exists(path):
        return None
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return path if " 1." in out or " v1." in out else None


class Containerd:
    """A real containerd with private root/state/sockets and a chosen CNI conf dir."""

    def __init__(self, binary, major, cni_conf_dir, cni_bin_dir):
        self.dir = tempfile.mkdtemp(prefix="kf-kubelet-ctrd-", dir="/tmp")
        self.sock = os.path.join(self.dir, "c.sock")
        if major >= 2:
            cfg = (f'version = 3\nroot = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
                   f'[grpc]\n  address = "{self.sock}"\n[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
                   f'[plugins."io.containerd.cri.v1.runtime".cni]\n  conf_dir = "{cni_conf_dir}"\n'
                   f'  bin_dirs = ["{cni_bin_dir}"]\n')
        else:
            cfg = (f'version = 2\nroot = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
                   f'[grpc]\n  address = "{self.sock}"\n[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
                   f'[plugins."io.containerd.grpc.v1.cri".cni]\n  conf_dir = "{cni_conf_dir}"\n'
                   f'  bin_dir = "{cni_bin_dir}"\n')
        with open(os.path.join(self.dir, "config.toml"), "w") as fh:
            fh.write(cfg)
        self.log = open(os.path.join(self.dir, "containerd.log"), "ab")
        self.proc = subprocess.Popen([binary, "-c", os.path.join(self.dir, "config.toml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = "unix://" + self.sock
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                cri.version(self.endpoint, timeout=2)
                return
            except cri.CRIError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"containerd did not answer; see {self.dir}/containerd.log")

    def stop(self):
        testenv.terminate(self.proc, 15)
        shutil.rmtree(self.dir, ignore_errors=True)


def need_root():
    if os.geteuid() != 0:
        pytest.skip("real containerd needs root")


@pytest.fixture(scope="module")
def cni_dirs():
    d = tempfile.mkdtemp(prefix="kf-kubelet-cni-", dir="/tmp")
    os.makedirs(os.path.join(d, "net.d"))
    os.makedirs(os.path.join(d, "bin"))
    yield os.path.join(d, "net.d"), os.path.join(d, "bin")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd2(cni_dirs):
    need_root()
    work = tempfile.mkdtemp(prefix="kf-kubelet-bin-", dir="/tmp")
    binary = containerd2_binary(work)
    if not binary:
        pytest.skip("no containerd 2.x binary: build the mirror (.cache/kubesim/www/mirror) or set KUBESIM_TEST_CONTAINERD2")
    c = Containerd(binary, 2, *cni_dirs)
    yield c
    c.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd1(cni_dirs):
    need_root()
    binary = containerd1_binary()
    if not binary:
        pytest.skip("no containerd 1.x on this machine (Debian bookworm's containerd package)")
    c = Containerd(binary, 1, *cni_dirs)
    yield c
    c.stop()


def test_containerd2_status_version_and_cgroup_driver(containerd2, cni_dirs):
    v = cri.version(containerd2.endpoint)
    assert v["runtime_name"] == "containerd" and v["runtime_version"].startswith("2.")
    assert v["runtime_api_version"] == "v1"
    st = cri.status(containerd2.endpoint)
    assert st["RuntimeReady"][0] is True
    assert st["NetworkReady"] == (False, "NetworkPluginNotReady",
                                  "Network plugin returns error: cni plugin not initialized")
    assert cri.cgroup_driver(containerd2.endpoint) in ("systemd", "cgroupfs")


def test_containerd2_network_ready_after_cni_config(containerd2, cni_dirs):
    conf_dir, _ = cni_dirs
    with open(os.path.join(conf_dir, "10-test.conflist"), "w") as fh:
        fh.write('{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "bridge"}]}')
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            if cri.status(containerd2.endpoint)["NetworkReady"][0]:
                break
            time.sleep(0.5)
        assert cri.status(containerd2.endpoint)["NetworkReady"][0] is True
    finally:
        os.unlink(os.path.join(conf_dir, "10-test.conflist"))


def test_containerd1_has_no_runtime_config(containerd1):
    v = cri.version(containerd1.endpoint)
    assert v["runtime_version"].startswith("1.")
    assert cri.status(containerd1.endpoint)["RuntimeReady"][0] is True
    with pytest.raises(cri.CRIError, match="RuntimeConfig returned no message"):
        cri.cgroup_driver(containerd1.endpoint)


def test_kubelet_137_refuses_containerd1(containerd1, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailCgroupV1: false\n")
    kc = tmp_path / "kubelet.conf"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: "
                  "{cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                  "users: [{name: u, user: {token: x}}]\n")
    env = dict(os.environ, PYTHONPATH=KUBESIM, KUBESIM_VERSION="1.37.1")
    res = subprocess.run([sys.executable, "-m", "kubesim.kubelet", f"--config={cfg}", f"--kubeconfig={kc}",
                          f"--container-runtime-endpoint={containerd1.endpoint}"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 1
    assert "failed to get cgroup driver from the container runtime (containerd://1." in res.stderr
    assert "requires a CRI implementation that reports its cgroup driver" in res.stderr
