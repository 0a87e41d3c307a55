"""The kubelet stand-in's pod runtime (kubesim/kubelet/runtime.py) against a REAL containerd 2.x with REAL runc and
the REAL CNI plugins, on this machine (issue 14).

A private containerd (the mirror's containerd, ctr and shim; this machine's runc; cgroupfs driver; the
restrict_oom_score_adj override every machine without CAP_SYS_RESOURCE needs) with the test images of
tests/lab/build-test-images imported, and a CNI configuration shaped like kube-flannel.yml's: the flannel CNI
plugin stand-in (kubesim/kubelet/images/flannel-cni-plugin/flannel) reading a subnet.env and delegating to the
real bridge + host-local plugins of the kubernetes-cni package the build makes (bridge kfpod0,
172.30.191.0/24: this helper's second lab subnet, so no lab of ours uses it at the same time).

Then pods go through PodRuntime.sync exactly as the kubelet's sync loop calls it: sandbox, containers, status
(Running, Ready after the readiness probe, restarts, exit codes, phases), ErrImageNeverPull / ErrImagePull /
ImagePullBackOff, adoption after a kubelet restart, teardown (CNI DEL, cgroups). Needs root.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(KUBESIM))
sys.path.insert(0, KUBESIM)

from kubesim.apiserver import testenv  # noqa: E402
from kubesim.kubelet import cri, runtime  # noqa: E402

BRIDGE = "kfpod0"
NETWORK, SUBNET = "172.30.190.0/23", "172.30.191.0/24"
NGINX = "docker.io/library/nginx:1.29-alpine"
BUSYBOX = "docker.io/library/busybox:latest"
MEASURED = {}


def mirror_tarball():
    tars = sorted(glob.glob(os.path.join(
        REPO, ".cache/kubesim/www/mirror/containerd/containerd/releases/download/v2*/containerd-2*-linux-amd64.tar.gz")))
    return tars[-1] if tars else None


def build_test_images():
    sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
    import testimages
    return testimages.build()


class Runtime:
    def __init__(self, work, pause):
        self.dir = work
        self.bin = os.path.join(work, "bin")
        self.cni_bin = os.path.join(work, "cni-bin")
        self.net_d = os.path.join(work, "net.d")
        self.subnet_env = os.path.join(work, "subnet.env")
        self.flannel_data = os.path.join(work, "flannel-data")
        self.ipam_data = os.path.join(work, "ipam-data")
        self.pod_logs = os.path.join(work, "pods")
        self.sock = os.path.join(work, "c.sock")
        self.endpoint = "unix://" + self.sock
        self.pause = pause
        for d in (self.net_d, self.pod_logs):
            os.makedirs(d)
        with tarfile.open(mirror_tarball()) as tf:
            tf.extractall(work, members=[m for m in tf.getmembers() if m.name.startswith("bin/")], filter="data")
        deb = sorted(glob.glob(os.path.join(REPO, ".cache/kubesim/debs/kubernetes-cni_*.deb")))[-1]
        x = os.path.join(work, "x-cni")
        subprocess.run(["dpkg-deb", "-x", deb, x], check=True)
        shutil.move(os.path.join(x, "opt", "cni", "bin"), self.cni_bin)
        shutil.copy(os.path.join(KUBESIM, "kubesim", "kubelet", "images", "flannel-cni-plugin", "flannel"),
                    os.path.join(self.cni_bin, "flannel"))
        with open(self.subnet_env, "w") as fh:
            fh.write(f"FLANNEL_NETWORK={NETWORK}\nFLANNEL_SUBNET=172.30.191.1/24\nFLANNEL_MTU=1450\n"
                     "FLANNEL_IPMASQ=true\n")
        # kube-flannel.yml's cni-conf.json, plus the paths this test moves (subnetFile, dataDir: flannel's own
        # options) and the bridge name
        conf = {"name": "kf-pods-test", "cniVersion": "0.3.1", "plugins": [
            {"type": "flannel", "subnetFile": self.subnet_env, "dataDir": self.flannel_data,
             "ipam": {"dataDir": self.ipam_data},
             "delegate": {"bridge": BRIDGE, "hairpinMode": True, "isDefaultGateway": True}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}
        with open(os.path.join(self.net_d, "10-flannel.conflist"), "w") as fh:
            json.dump(conf, fh)
        cfg = f"""version = 3
root = "{work}/root"
state = "{work}/state"
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{pause}"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
[plugins."io.containerd.cri.v1.runtime".cni]
  conf_dir = "{self.net_d}"
  bin_dirs = ["{self.cni_bin}"]
"""
        with open(os.path.join(work, "config.toml"), "w") as fh:
            fh.write(cfg)
        self.log = open(os.path.join(work, "containerd.log"), "ab")
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}")
        self.proc = subprocess.Popen([os.path.join(self.bin, "containerd"), "-c", os.path.join(work, "config.toml")],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 30
        while True:
            try:
                if cri.status(self.endpoint, timeout=2)["NetworkReady"][0]:
                    break
            except cri.CRIError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"containerd not ready; see {work}/containerd.log")
            time.sleep(0.2)

    def ctr(self, *args, stdin=None):
        return subprocess.run([os.path.join(self.bin, "ctr"), "--address", self.sock, "-n", "k8s.io", *args],
                              stdin=stdin, capture_output=True, text=True, check=True)

    def stop(self):
        try:
            for box in cri.list_pod_sandboxes(self.endpoint):
                cri.stop_pod_sandbox(self.endpoint, box["id"])
                cri.remove_pod_sandbox(self.endpoint, box["id"])
        except cri.CRIError:
            pass
        testenv.terminate(self.proc, 15)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
        subprocess.run(["umount", "-R", os.path.join(self.dir, "root")], capture_output=True, check=False)
        subprocess.run(["umount", "-R", os.path.join(self.dir, "state")], capture_output=True, check=False)


@pytest.fixture(scope="module")
def rt():
    if os.geteuid() != 0:
        pytest.skip("real containerd needs root")
    if not mirror_tarball() or not glob.glob(os.path.join(REPO, ".cache/kubesim/debs/kubernetes-cni_*.deb")):
        pytest.skip("no containerd 2.x mirror or kubernetes-cni deb: run tests/kubesim/build")
    if not shutil.which("runc"):
        pytest.skip("no runc on this machine (Debian package runc)")
    images = build_test_images()
    work = tempfile.mkdtemp(prefix="kf-kubelet-pods-", dir="/var/tmp")
    r = None
    try:
        r = Runtime(work, images["pause"]["names"][0])
        t0 = time.monotonic()
        for info in images.values():
            with open(info["path"], "rb") as fh:
                r.ctr("images", "import", "-", stdin=fh)
        MEASURED["import of the test images (s)"] = round(time.monotonic() - t0, 2)
        yield r
    finally:
        print("\nmeasured:", json.dumps(MEASURED))
        if r:
            r.stop()
        shutil.rmtree(work, ignore_errors=True)


def new_runtime(r, logs):
    return runtime.PodRuntime(r.endpoint, "kf-node", "cgroupfs", logs.append, pod_logs_dir=r.pod_logs)


def pod(name, containers, restart_policy="Always", **spec):
    return {"metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4()),
                         "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "spec": {"containers": containers, "restartPolicy": restart_policy, **spec}}


def sync_until(prt, p, pred, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = prt.sync(p, True)
        if pred(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {summary(last)}")


def summary(r):
    if not r:
        return r
    return {"phase": r["phase"], "ip": r["ip"], "states": [(s[0]["name"], s[1], s[2], s[3], s[4]) for s in r["states"]]}


def state(r, i=0):
    return r["states"][i][1]


def teardown(prt, p, timeout=60):
    uid = p["metadata"]["uid"]
    prt.teardown(uid, grace=int(p["spec"].get("terminationGracePeriodSeconds", 30)))
    deadline = time.monotonic() + timeout
    while not prt.done(uid):
        assert time.monotonic() < deadline, "teardown did not finish"
        time.sleep(0.2)


def test_nginx_pod_runs_gets_ready_and_serves(rt):
    logs = []
    prt = new_runtime(rt, logs)
    p = pod("web", [{"name": "nginx", "image": NGINX, "ports": [{"containerPort": 80, "name": "http"}],
                     "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}])
    t0 = time.monotonic()
    running = sync_until(prt, p, lambda r: r["phase"] == "Running", what="Running")
    MEASURED["nginx pod: sync to Running (s)"] = round(time.monotonic() - t0, 2)
    ready = sync_until(prt, p, lambda r: r["states"][0][2], what="Ready")
    MEASURED["nginx pod: sync to Ready (s)"] = round(time.monotonic() - t0, 2)
    ip = running["ip"]
    assert ip.startswith("172.30.191.") and ip != "172.30.191.1", ip
    c, st, is_ready, restarts, last, extra = ready["states"][0]
    assert is_ready and restarts == 0 and last == {} and "running" in st and st["running"]["startedAt"], st
    assert extra["containerID"].startswith("containerd://") and extra["imageID"].startswith("sha256:"), extra
    # the node reaches the pod through the real bridge the flannel plugin's delegate made
    page = urllib.request.urlopen(f"http://{ip}/", timeout=5).read().decode()
    assert "Welcome to nginx!" in page
    # the flannel stand-in saved its delegate configuration (flannel's DEL reads it back)
    saved = glob.glob(os.path.join(rt.flannel_data, "*"))
    assert len(saved) == 1
    delegate = json.load(open(saved[0]))
    assert delegate["type"] == "bridge" and delegate["bridge"] == BRIDGE and delegate["ipMasq"] is False
    assert delegate["mtu"] == 1450 and delegate["isGateway"] is True
    assert delegate["ipam"]["ranges"] == [[{"subnet": SUBNET}]] and {"dst": NETWORK} in delegate["ipam"]["routes"]
    # the container's log lands where the kubelet asked (pod log directory / <container> / <restart>.log)
    meta = p["metadata"]
    log = os.path.join(rt.pod_logs, f"default_web_{meta['uid']}", "nginx", "0.log")
    assert '"GET / HTTP/1.1" 200' in open(log).read()

    # a kubelet restart: the pod is adopted, not started again
    again = new_runtime(rt, logs)
    r = sync_until(again, p, lambda r: r["phase"] == "Running" and r["states"][0][2] is not None
                   and "running" in state(r), what="adopted")
    assert r["ip"] == ip
    assert len(cri.list_pod_sandboxes(rt.endpoint, labels={runtime.UID_LABEL: meta["uid"]})) == 1
    assert any("Adopted pod sandbox" in line for line in logs), logs

    t0 = time.monotonic()
    teardown(again, p)
    MEASURED["nginx pod: teardown (s)"] = round(time.monotonic() - t0, 2)
    assert cri.list_pod_sandboxes(rt.endpoint, labels={runtime.UID_LABEL: meta["uid"]}) == []
    # CNI DEL ran: no veth left on the bridge, the delegate configuration and the address are released
    assert subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True,
                          text=True).stdout.strip() == ""
    assert glob.glob(os.path.join(rt.flannel_data, "*")) == []
    assert not os.path.exists(os.path.join(rt.ipam_data, "kf-pods-test", ip))
    # the pod's cgroups are gone
    assert not glob.glob(f"/sys/fs/cgroup/*/kubepods/besteffort/pod{meta['uid']}"), "pod cgroup left"


def test_restarts_exit_codes_and_crash_loop(rt):
    prt = new_runtime(rt, [])
    p = pod("crash", [{"name": "sh", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", "echo started; exit 3"]}],
            terminationGracePeriodSeconds=1)
    r = sync_until(prt, p, lambda r: r["states"][0][3] >= 1 and "waiting" in state(r), timeout=60,
                   what="a restart, then CrashLoopBackOff")
    c, st, is_ready, restarts, last, extra = r["states"][0]
    assert st["waiting"]["reason"] == "CrashLoopBackOff" and "back-off 10s restarting failed container=sh" in \
        st["waiting"]["message"], st
    assert last["terminated"]["exitCode"] == 3 and last["terminated"]["reason"] == "Error", last
    assert not is_ready and r["phase"] == "Running"  # restartPolicy Always: the kubelet's getPhase
    teardown(prt, p)


@pytest.mark.parametrize("code,phase", [(0, "Succeeded"), (2, "Failed")])
def test_restart_policy_never_phases(rt, code, phase):
    prt = new_runtime(rt, [])
    p = pod(f"once-{code}", [{"name": "job", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", f"exit {code}"]}],
            restart_policy="Never")
    r = sync_until(prt, p, lambda r: r["phase"] in ("Succeeded", "Failed"), what="a terminal phase")
    assert r["phase"] == phase
    time.sleep(1)
    assert prt.sync(p, True)["phase"] == phase  # a finished pod keeps its phase
    term = state(r)["terminated"]
    assert term["exitCode"] == code and term["reason"] == ("Completed" if code == 0 else "Error"), term
    assert r["states"][0][3] == 0
    teardown(prt, p)


def test_init_container_runs_first(rt):
    prt = new_runtime(rt, [])
    p = pod("init", [{"name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}],
            initContainers=[{"name": "prep", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", "exit 0"]}],
            terminationGracePeriodSeconds=1)
    r = sync_until(prt, p, lambda r: r["phase"] == "Running" and "running" in state(r), what="Running")
    assert r["initialized"] and r["init_states"][0][1]["terminated"]["exitCode"] == 0
    teardown(prt, p)


def test_images_not_present(rt):
    prt = new_runtime(rt, [])
    never = pod("never", [{"name": "app", "image": "docker.io/library/kf-absent:1", "imagePullPolicy": "Never"}])
    r = sync_until(prt, never, lambda r: "waiting" in state(r) and state(r)["waiting"]["reason"] != "ContainerCreating",
                   what="ErrImageNeverPull")
    assert state(r)["waiting"] == {"reason": "ErrImageNeverPull", "message": 'Container image '
                                   '"docker.io/library/kf-absent:1" is not present with pull policy of Never'}
    assert r["phase"] == "Pending" and r["sandbox_ready"]
    teardown(prt, never)

    pull = pod("pull", [{"name": "app", "image": "docker.io/library/kf-absent:2"}])
    r = sync_until(prt, pull, lambda r: state(r).get("waiting", {}).get("reason") == "ErrImagePull",
                   what="ErrImagePull")
    assert 'Failed to pull image "docker.io/library/kf-absent:2"' in state(r)["waiting"]["message"]
    r = sync_until(prt, pull, lambda r: state(r).get("waiting", {}).get("reason") == "ImagePullBackOff",
                   what="ImagePullBackOff")
    assert state(r)["waiting"]["message"] == 'Back-off pulling image "docker.io/library/kf-absent:2"'
    teardown(prt, pull)


def test_pods_gone_from_the_api_are_collected(rt):
    prt = new_runtime(rt, [])
    p = pod("orphan", [{"name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}])
    sync_until(prt, p, lambda r: r["phase"] == "Running", what="Running")
    uid = p["metadata"]["uid"]
    t0 = time.monotonic()
    prt.collect(live_uids=set())
    while not prt.done(uid):
        assert time.monotonic() - t0 < 60
        time.sleep(0.2)
    assert cri.list_pod_sandboxes(rt.endpoint, labels={runtime.UID_LABEL: uid}) == []


def test_pull_policy_defaults():
    assert runtime.pull_policy({"image": "nginx"}) == "Always"
    assert runtime.pull_policy({"image": "nginx:latest"}) == "Always"
    assert runtime.pull_policy({"image": "nginx:1.29-alpine"}) == "IfNotPresent"
    assert runtime.pull_policy({"image": "reg:5000/nginx"}) == "Always"
    assert runtime.pull_policy({"image": "nginx", "imagePullPolicy": "Never"}) == "Never"


def test_qos_and_cgroup_parent():
    assert runtime.qos_class({"containers": [{}]}) == "BestEffort"
    assert runtime.qos_class({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}) == "Burstable"
    g = {"cpu": "1", "memory": "1Gi"}
    assert runtime.qos_class({"containers": [{"resources": {"requests": g, "limits": g}}]}) == "Guaranteed"
    assert runtime.cgroup_parent("systemd", "BestEffort", "a-b") == "kubepods-besteffort-poda_b.slice"
    assert runtime.cgroup_parent("systemd", "Guaranteed", "a-b") == "kubepods-poda_b.slice"
    assert runtime.cgroup_parent("cgroupfs", "Burstable", "a-b") == "/kubepods/burstable/poda-b"
