"""Static pods: manifests in staticPodPath run as transient systemd units.

image -> program (no container images exist on our hosts):
  .../etcd:<tag>                    -> /usr/bin/etcd <args>         (Debian etcd-server)
  .../kube-apiserver:<tag>          -> python3 -m kubesim.apiserver <args>
  .../kube-controller-manager:<tag> -> python3 -m kubesim.controllers <args>
  .../kube-scheduler:<tag>          -> python3 -m kubesim.scheduler <args>
<args> are the container's command (minus the binary name) followed by its args, exactly
as kubeadm wrote them. Units are named kubesim-static-<pod name>, Restart=always.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys

import yaml

from . import host

PROGRAMS = {
    "etcd": ["/usr/bin/etcd"],
    "kube-apiserver": ["-m", "kubesim.apiserver"],
    "kube-controller-manager": ["-m", "kubesim.controllers"],
    "kube-scheduler": ["-m", "kubesim.scheduler"],
}


# etcd 3.6 (the image kubeadm 1.36/1.37 deploys) renamed experimental flags and moved some to
# --feature-gates; Debian's etcd-server is 3.4 (bookworm) / 3.5 (trixie), which know only the
# experimental names. The kubelet stand-in maps the image to the installed program, so it maps
# these flags to the installed program's names too (same meaning, older spelling).
ETCD36_RENAMED = {
    "watch-progress-notify-interval", "warning-apply-duration", "compaction-batch-limit",
    "compaction-sleep-interval", "snapshot-catchup-entries", "memory-mlock",
    "bootstrap-defrag-threshold-megabytes", "max-learners", "compact-hash-check-time",
    "corrupt-check-time", "downgrade-check-time", "enable-lease-checkpoint",
    "peer-skip-client-san-verification", "warning-unary-request-duration",
    "wait-cluster-ready-timeout", "enable-distributed-tracing", "distributed-tracing-address",
    "distributed-tracing-service-name", "distributed-tracing-instance-id",
    "distributed-tracing-sampling-rate",
}
ETCD36_GATES = {
    "InitialCorruptCheck": "initial-corrupt-check", "CompactHashCheck": "compact-hash-check-enabled",
    "TxnModeWriteWithSharedBuffer": "txn-mode-write-with-shared-buffer",
    "StopGRPCServiceOnDefrag": "stop-grpc-service-on-defrag", "LeaseCheckpoint": "enable-lease-checkpoint",
    "LeaseCheckpointPersist": "enable-lease-checkpoint-persist",
}
_etcd_version = []


def installed_etcd_version(binary="/usr/bin/etcd"):
    if not _etcd_version:
        try:
            out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
            ver = out.split("etcd Version:")[1].split()[0]
            _etcd_version.append(tuple(int(x) for x in ver.split(".")[:2]))
        except (OSError, IndexError, ValueError, subprocess.SubprocessError):
            _etcd_version.append((3, 6))
    return _etcd_version[0]


def etcd_args_for(version, args):
    if version >= (3, 6):
        return list(args)
    out = []
    for arg in args:
        name, eq, value = arg.lstrip("-").partition("=")
        if name == "feature-gates":
            for gate in value.split(","):
                g, _, v = gate.partition("=")
                if g.strip() in ETCD36_GATES:
                    out.append(f"--experimental-{ETCD36_GATES[g.strip()]}={v.strip() or 'true'}")
            continue
        if name in ETCD36_RENAMED:
            out.append(f"--experimental-{name}{eq}{value}")
            continue
        out.append(arg)
    return out


def image_name(image):
    """registry.k8s.io/kube-apiserver:v1.37.1 -> kube-apiserver (repository basename)."""
    ref = image.split("@")[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":")[0]


def read_manifests(directory):
    """{file name: (pod dict or None, content hash, error)} for the kubelet's file source."""
    out = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return out
    for name in names:
        if name.startswith("."):
            continue  # the kubelet ignores hidden files
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        digest = hashlib.sha256(raw).hexdigest()[:32]
        try:
            pod = yaml.safe_load(raw)
            if not isinstance(pod, dict) or pod.get("kind") != "Pod":
                raise ValueError("not a Pod")
            if not (pod.get("metadata") or {}).get("name"):
                raise ValueError("metadata.name is required")
            out[name] = (pod, digest, None)
        except (yaml.YAMLError, ValueError) as exc:
            out[name] = (None, digest, str(exc))
    return out


def command_for(pod):
    """The program to run for a static pod, or (None, reason)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return None, "no containers"
    c = containers[0]
    image = c.get("image") or ""
    prog = PROGRAMS.get(image_name(image))
    if prog is None:
        return None, f'image "{image}" has no stand-in program'
    argv = list(c.get("command") or [])[1:] + list(c.get("args") or [])
    if prog == PROGRAMS["etcd"]:
        argv = etcd_args_for(installed_etcd_version(prog[0]), argv)
    if prog[0] == "-m":
        return [sys.executable or "/usr/bin/python3"] + prog + argv, None
    return prog + argv, None


def image_version(pod):
    """The Kubernetes version a control-plane image stands for (its tag, e.g. v1.37.1), else None.

    The stand-in programs come from the installed kubelet package, so the tag kubeadm wrote (for example
    after `kubeadm upgrade apply`) is what tells the kube-apiserver which version to report.
    """
    containers = (pod.get("spec") or {}).get("containers") or []
    image = (containers[0].get("image") or "") if containers else ""
    tag = image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
    if image_name(image).startswith("kube-") and re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", tag):
        return tag
    return None


def unit_name(pod):
    return f"kubesim-static-{pod['metadata']['name']}"


class StaticPodRunner:
    """Starts/stops static pods; state (hash per unit) kept under <root-dir>/kubesim-static."""

    def __init__(self, state_dir, log):
        self.state_dir = state_dir
        self.log = log
        self.mode = os.environ.get("KUBESIM_STATIC_POD_RUNNER", "systemd")
        self.children = {}
        self.cache = {}
        os.makedirs(state_dir, exist_ok=True)

    def _state_file(self, unit):
        return os.path.join(self.state_dir, unit + ".json")

    def recorded(self):
        out = {}
        for name in os.listdir(self.state_dir):
            if name.endswith(".json"):
                try:
                    with open(os.path.join(self.state_dir, name), encoding="utf-8") as fh:
                        out[name[:-5]] = json.load(fh)
                except (OSError, ValueError):
                    continue
        return out

    def env(self):
        env = {"PYTHONPATH": host.lib_dir()}
        for key in ("KUBESIM_VERSION", "KUBESIM_PACKAGE"):
            if os.environ.get(key):
                env[key] = os.environ[key]
        return env

    def start(self, unit, argv, digest, version=None):
        self.stop(unit, quiet=True)
        self.cache.pop(unit, None)
        env = self.env()
        if version:
            env["KUBESIM_VERSION"] = version
        if self.mode == "process":
            full = dict(os.environ)
            full.update(env)
            logf = open(os.path.join(self.state_dir, unit + ".log"), "ab")
            proc = subprocess.Popen(argv, env=full, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            self.children[unit] = proc
            pid = proc.pid
        else:
            cmd = ["systemd-run", f"--unit={unit}", "--property=Restart=always",
                   "--property=RestartSec=2", f"--description=kubesim static pod {unit}"]
            for k, v in env.items():
                cmd.append(f"--setenv={k}={v}")
            cmd += argv
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if res.returncode != 0:
                self.log(f'"Failed to start static pod" unit="{unit}" err="{res.stderr.strip()}"')
                return False
            pid = None
        with open(self._state_file(unit), "w", encoding="utf-8") as fh:
            json.dump({"hash": digest, "argv": argv, "pid": pid}, fh)
        self.log(f'"Started static pod" unit="{unit}" command="{" ".join(argv[:3])} ..."')
        return True

    def stop(self, unit, quiet=False):
        if self.mode == "process":
            proc = self.children.pop(unit, None)
            pid = proc.pid if proc else (self.recorded().get(unit) or {}).get("pid")
            if pid:
                try:
                    os.killpg(pid, signal.SIGTERM)
                except OSError:
                    pass
                if proc:
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.killpg(pid, signal.SIGKILL)
        else:
            subprocess.run(["systemctl", "stop", f"{unit}.service"], capture_output=True, timeout=60)
            subprocess.run(["systemctl", "reset-failed", f"{unit}.service"], capture_output=True, timeout=30)
        try:
            os.unlink(self._state_file(unit))
            if not quiet:
                self.log(f'"Stopped static pod" unit="{unit}"')
        except OSError:
            pass

    def active(self, unit):
        if self.mode == "process":
            proc = self.children.get(unit)
            return proc is not None and proc.poll() is None
        return self._state(unit)[0] == "active"

    def refresh(self, units):
        """Read ActiveState/NRestarts of all units with one systemctl call (cached per sync)."""
        self.cache = {}
        if self.mode == "process" or not units:
            return
        names = [f"{u}.service" for u in sorted(units)]
        res = subprocess.run(["systemctl", "show", "-p", "Id,ActiveState,NRestarts", *names],
                             capture_output=True, text=True, timeout=30)
        for block in res.stdout.split("\n\n"):
            props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            if props.get("Id", "").endswith(".service"):
                try:
                    restarts = int(props.get("NRestarts") or 0)
                except ValueError:
                    restarts = 0
                self.cache[props["Id"][:-8]] = (props.get("ActiveState", "inactive"), restarts)

    def _state(self, unit):
        if unit not in self.cache:
            self.refresh(set(self.cache) | {unit})
        return self.cache.get(unit, ("inactive", 0))

    def present(self, unit):
        """The unit/process exists (running or being restarted by systemd)."""
        if self.mode == "process":
            return unit in self.children
        return self._state(unit)[0] in ("active", "activating", "reloading", "deactivating")

    def restarts(self, unit):
        if self.mode == "process":
            return 0
        return self._state(unit)[1]

    def sync(self, manifests):
        """Converge units with manifests; returns {unit: (pod, digest, error)} of wanted pods."""
        wanted = {}
        for fname, (pod, digest, err) in manifests.items():
            if pod is None:
                self.log(f'"Could not process manifest file" path="{fname}" err="{err}"')
                continue
            wanted[unit_name(pod)] = (pod, digest, None)
        recorded = self.recorded()
        self.refresh(set(recorded) | set(wanted))
        for unit in recorded:
            if unit not in wanted:
                self.stop(unit)
        for unit, (pod, digest, _) in wanted.items():
            argv, why = command_for(pod)
            if argv is None:
                wanted[unit] = (pod, digest, why)
                continue
            rec = recorded.get(unit)
            if rec and rec.get("hash") == digest and self.present(unit):
                continue
            self.start(unit, argv, digest, image_version(pod))
        return wanted

    def shutdown_children(self):
        for unit in list(self.children):
            self.stop(unit, quiet=True)
