"""Ordinary pods through the container runtime's CRI, as the kubelet's kuberuntime manager runs them (issue 14).

For each pod bound to the node (except the CNI DaemonSet and the modelled kube-proxy/CoreDNS, see pods.py):
- RunPodSandbox: the pause image pinned in containerd's config, the network namespace set up by the CNI plugins
  of /etc/cni/net.d (containerd calls them), the pod's cgroup under kubepods (systemd slice or cgroupfs path,
  after the runtime's cgroup driver); its IP from PodSandboxStatus. A failure is retried with back-off.
- init containers one after the other, then every container: the image check of the kubelet's image manager
  (ErrImageNeverPull; ErrImagePull then ImagePullBackOff for an image that would have to be pulled: the
  stand-in does not pull), CreateContainer + StartContainer;
- ContainerStatus feeds the pod status: running / terminated (exit code, reason), restarts after the restart
  policy with the kubelet's crash-loop back-off (10 s doubling, at most 300 s), readiness and liveness probes
  (httpGet, tcpSocket from the node; exec through ExecSync), phase as the kubelet's getPhase computes it;
- deletion (and pods gone from the API server, and sandboxes of pods the kubelet does not know after a restart):
  StopContainer with the grace period, StopPodSandbox, RemovePodSandbox, the pod's cgroups removed, in a
  thread so that the sync loop goes on; the kubelet then deletes the API object.
After a kubelet restart the sandboxes and containers of known pods are adopted (labels, restart-count
annotation), not created again.
Not covered: volumes (no mount is made), env valueFrom other than fieldRef, ports to the host (hostPort),
resource limits (the cgroup parent follows the QoS class only), ephemeral containers, startup probes.
"""

import datetime
import os
import socket
import subprocess
import threading
import time
import http.client

from . import cri

UID_LABEL = "io.kubernetes.pod.uid"
NAME_LABEL = "io.kubernetes.pod.name"
NS_LABEL = "io.kubernetes.pod.namespace"
CONTAINER_LABEL = "io.kubernetes.container.name"
RESTARTS_ANNOTATION = "io.kubernetes.container.restartCount"


def rfc3339(ns):
    if not ns:
        return None
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def backoff_seconds(restarts):
    return min(300, 10 * (2 ** max(0, restarts - 1)))


def pull_policy(container):
    policy = container.get("imagePullPolicy")
    if policy:
        return policy
    image = (container.get("image") or "").split("@")[0]
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return "Always" if tag in ("", "latest") and "@" not in (container.get("image") or "") else "IfNotPresent"


def qos_class(spec):
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    requests = limits = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests |= bool(req)
        limits |= bool(lim)
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not (requests or limits):
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def cgroup_parent(driver, qos, uid):
    if driver == "systemd":
        flat = uid.replace("-", "_")
        return {"Guaranteed": f"kubepods-pod{flat}.slice",
                "Burstable": f"kubepods-burstable-pod{flat}.slice"}.get(qos, f"kubepods-besteffort-pod{flat}.slice")
    return {"Guaranteed": f"/kubepods/pod{uid}", "Burstable": f"/kubepods/burstable/pod{uid}"}.get(
        qos, f"/kubepods/besteffort/pod{uid}")


def remove_pod_cgroup(driver, parent, root="/sys/fs/cgroup"):
    """The pod cgroup manager's Destroy: stop the slice (systemd), then remove what is left of the pod's
    directories in every v1 hierarchy (systemd leaves those of the controllers it does not manage). Below the
    first three levels the walk descends only into the kubepods tree."""
    name = parent.rstrip("/").rsplit("/", 1)[-1]
    if driver == "systemd":
        subprocess.run(["systemctl", "stop", parent], capture_output=True, check=False, timeout=60)
    for top, dirs, _files in os.walk(root, topdown=True):
        depth = top[len(root):].count("/")
        if depth >= 3:
            dirs[:] = [d for d in dirs if d.startswith("kubepods") or d in ("besteffort", "burstable", name)]
        if os.path.basename(top) == name:
            for sub, _d, _f in sorted(os.walk(top), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
            dirs[:] = []


class Probe:
    def __init__(self, spec):
        self.spec = spec or {}
        self.last = 0.0
        self.successes = self.failures = 0
        self.ok = None  # None: not probed yet

    def due(self, started_mono):
        now = time.monotonic()
        if now - started_mono < int(self.spec.get("initialDelaySeconds") or 0):
            return False
        return now - self.last >= int(self.spec.get("periodSeconds") or 10)

    def record(self, ok):
        self.last = time.monotonic()
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.spec.get("successThreshold") or 1):
                self.ok = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= int(self.spec.get("failureThreshold") or 3):
                self.ok = False


def resolve_port(port, container):
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"unknown port {port!r}")


class Container:
    """What the kubelet remembers of one container of a pod."""

    def __init__(self, name):
        self.name = name
        self.id = ""
        self.restarts = 0
        self.last_terminated = {}
        self.finished_mono = 0.0
        self.started_mono = 0.0
        self.waiting = None          # (reason, message) before a container exists
        self.image_failures = 0
        self.image_retry_at = 0.0
        self.readiness = None
        self.liveness = None
        self.completed = False       # an init container that exited 0


class PodState:
    def __init__(self, uid):
        self.uid = uid
        self.sandbox_id = ""
        self.sandbox_config = b""
        self.attempt = 0
        self.ip = ""
        self.containers = {}
        self.sandbox_error = ""
        self.sandbox_failures = 0
        self.sandbox_retry_at = 0.0
        self.terminal = ""  # "Succeeded" or "Failed" once the pod is done
        self.busy = False
        self.adopting = False
        self.parent = None

    def container(self, name):
        return self.containers.setdefault(name, Container(name))


class PodRuntime:
    def __init__(self, endpoint, node_name, cgroup_driver, log, pod_logs_dir="/var/log/pods"):
        self.endpoint = endpoint
        self.node_name = node_name
        self.cgroup_driver = cgroup_driver or "systemd"
        self.log = log
        self.pod_logs_dir = pod_logs_dir
        self.pods = {}
        self.terminating = {}   # uid -> thread
        self.torn_down = set()  # uids whose teardown finished (the API object may be deleted)
        self.removal_after = {}  # uid -> grace: removal asked for while the pod's stop ran
        self.lock = threading.Lock()
        self.metrics = {}       # uid -> {"sandbox_s", "running_s", ...} measured by the stand-in

    # ------------------------------------------------------------------ adoption
    def _adopt(self, st):
        uid = st.uid
        try:
            boxes = cri.list_pod_sandboxes(self.endpoint, labels={UID_LABEL: uid})
        except cri.CRIError:
            return
        ready = sorted((b for b in boxes if b["state"] == "SANDBOX_READY"), key=lambda b: b["created_at"])
        if not ready:
            st.attempt = max([b["attempt"] + 1 for b in boxes] or [0])
            return
        box = ready[-1]
        st.sandbox_id, st.attempt = box["id"], box["attempt"]
        try:
            st.ip = cri.pod_sandbox_status(self.endpoint, box["id"])["ip"]
            for c in sorted(cri.list_containers(self.endpoint, sandbox_id=box["id"]), key=lambda c: c["attempt"]):
                name = c["labels"].get(CONTAINER_LABEL) or c["name"]
                cs = st.container(name)
                cs.id = c["id"]
                cs.restarts = int(c["annotations"].get(RESTARTS_ANNOTATION) or c["attempt"])
                cs.started_mono = time.monotonic()
        except cri.CRIError:
            pass
        self.log(f'"Adopted pod sandbox after a restart" podUID="{uid}" sandbox="{box["id"][:13]}"')

    # -------------------------------------------------------------------- sync
    def sync(self, pod, network_ready):
        """Make the runtime match the pod (in the pod's worker thread, as the kubelet's pod workers do: a slow
        runtime call never holds up the sync loop and the node's heartbeat); -> dict for the status: phase, ip,
        sandbox_ready, initialized, states [(container, state, ready, restarts, last_state, extra)],
        init_states."""
        uid = pod["metadata"]["uid"]
        with self.lock:
            st = self.pods.get(uid)
            if st is None:
                st = self.pods[uid] = PodState(uid)
                st.adopting = True
            start = not st.busy and uid not in self.terminating
            if start:
                st.busy = True
        if start:
            threading.Thread(target=self._work, args=(pod, st, network_ready), daemon=True).start()
        return self._report(pod, st, (pod.get("spec") or {}).get("restartPolicy") or "Always")

    def _work(self, pod, st, network_ready):
        try:
            if st.adopting:
                self._adopt(st)
                st.adopting = False
            self._sync_pod(pod, st, network_ready)
        except Exception as exc:  # noqa: BLE001 - a pod worker logs and tries again on the next sync
            self.log(f'"Error syncing pod, skipping" err="{exc!r}" pod="{pod["metadata"]["namespace"]}/'
                     f'{pod["metadata"]["name"]}"')
        finally:
            st.busy = False

    def _sync_pod(self, pod, st, network_ready):
        meta, spec = pod["metadata"], pod.get("spec") or {}
        host_network = bool(spec.get("hostNetwork"))
        restart_policy = spec.get("restartPolicy") or "Always"
        if st.terminal:
            return
        if st.sandbox_id:
            try:
                if cri.pod_sandbox_status(self.endpoint, st.sandbox_id)["state"] != "SANDBOX_READY":
                    self.log(f'"No ready sandbox for pod can be found. Need to start a new one" '
                             f'pod="{meta["namespace"]}/{meta["name"]}"')
                    self._kill_sandbox(st, grace=0)
                    st.sandbox_id = ""
                    st.attempt += 1
            except cri.CRIError:
                st.sandbox_id = ""
                st.attempt += 1
        if not st.sandbox_id:
            if not host_network and not network_ready:
                st.sandbox_error = ("network is not ready: container runtime network not ready: NetworkReady=false "
                                    "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin "
                                    "not initialized")
                return
            if time.monotonic() < st.sandbox_retry_at:
                return
            self._run_sandbox(pod, st, host_network)
            if not st.sandbox_id:
                return
        if self._sync_init(pod, st, restart_policy):
            for c in spec.get("containers") or []:
                self._sync_container(pod, st, c, restart_policy)

    def _run_sandbox(self, pod, st, host_network):
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        logdir = os.path.join(self.pod_logs_dir, f"{meta['namespace']}_{meta['name']}_{uid}")
        labels = {NAME_LABEL: meta["name"], NS_LABEL: meta["namespace"], UID_LABEL: uid,
                  **(meta.get("labels") or {})}
        parent = cgroup_parent(self.cgroup_driver, qos_class(spec), uid)
        hostname = spec.get("hostname") or meta["name"]
        st.sandbox_config = cri.pod_sandbox_config(
            meta["name"], meta["namespace"], uid, attempt=st.attempt, hostname=hostname, log_directory=logdir,
            labels=labels, annotations=meta.get("annotations") or {}, cgroup_parent=parent,
            network=cri.NS_NODE if host_network else cri.NS_POD,
            ipc=cri.NS_NODE if spec.get("hostIPC") else cri.NS_POD,
            pid=cri.NS_NODE if spec.get("hostPID") else (cri.NS_POD if spec.get("shareProcessNamespace")
                                                          else cri.NS_CONTAINER))
        t0 = time.monotonic()
        try:
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                os.makedirs(os.path.join(logdir, c["name"]), exist_ok=True)
            st.sandbox_id = cri.run_pod_sandbox(self.endpoint, st.sandbox_config)
            st.ip = "" if host_network else cri.pod_sandbox_status(self.endpoint, st.sandbox_id)["ip"]
        except (cri.CRIError, OSError) as exc:
            st.sandbox_failures += 1
            st.sandbox_retry_at = time.monotonic() + backoff_seconds(st.sandbox_failures)
            st.sandbox_error = f"Failed to create pod sandbox: {exc}"
            self.log(f'"CreatePodSandbox for pod failed" err="{exc}" pod="{meta["namespace"]}/{meta["name"]}"')
            return
        st.sandbox_error, st.sandbox_failures = "", 0
        st.parent = parent
        self.metrics.setdefault(uid, {})["RunPodSandbox_s"] = round(time.monotonic() - t0, 3)
        self.log(f'"Created pod sandbox" pod="{meta["namespace"]}/{meta["name"]}" ip="{st.ip}" '
                 f'seconds={time.monotonic() - t0:.2f}')

    def _env(self, pod, c, st):
        out = {}
        for e in c.get("env") or []:
            if "value" in e:
                out[e["name"]] = str(e["value"])
            elif (e.get("valueFrom") or {}).get("fieldRef"):
                path = e["valueFrom"]["fieldRef"].get("fieldPath")
                out[e["name"]] = {"metadata.name": pod["metadata"]["name"],
                                  "metadata.namespace": pod["metadata"]["namespace"],
                                  "metadata.uid": pod["metadata"]["uid"], "spec.nodeName": self.node_name,
                                  "status.podIP": st.ip}.get(path, "")
        return out

    def _start(self, pod, st, c, cs):
        """EnsureImageExists, CreateContainer, StartContainer; sets cs.waiting on failure."""
        meta = pod["metadata"]
        if cs.image_failures and time.monotonic() < cs.image_retry_at:
            cs.waiting = ("ImagePullBackOff", f'Back-off pulling image "{c.get("image")}"')
            return
        try:
            cri.ensure_image(self.endpoint, c.get("image"), pull_policy(c))
        except cri.ImageNotReady as exc:
            if exc.reason == "ErrImagePull":
                cs.image_failures += 1
                cs.image_retry_at = time.monotonic() + backoff_seconds(cs.image_failures)
            cs.waiting = (exc.reason, exc.message)
            return
        except cri.CRIError as exc:
            cs.waiting = ("ErrImagePull", str(exc))
            return
        cs.image_failures = 0
        attempt = cs.restarts
        config = cri.container_config(
            c["name"], c.get("image"), command=c.get("command") or (), args=c.get("args") or (),
            envs=self._env(pod, c, st), working_dir=c.get("workingDir") or "",
            log_path=f"{c['name']}/{attempt}.log", attempt=attempt,
            labels={NAME_LABEL: meta["name"], NS_LABEL: meta["namespace"], UID_LABEL: meta["uid"],
                    CONTAINER_LABEL: c["name"]},
            annotations={RESTARTS_ANNOTATION: str(cs.restarts)})
        try:
            cid = cri.create_container(self.endpoint, st.sandbox_id, config, st.sandbox_config)
        except cri.CRIError as exc:
            cs.waiting = ("CreateContainerError", str(exc))
            return
        old = cs.id
        cs.id = cid
        try:
            cri.start_container(self.endpoint, cid)
        except cri.CRIError as exc:
            cs.waiting = ("RunContainerError", str(exc))
            return
        cs.waiting = None
        cs.started_mono = time.monotonic()
        cs.readiness = Probe(c["readinessProbe"]) if c.get("readinessProbe") else None
        cs.liveness = Probe(c["livenessProbe"]) if c.get("livenessProbe") else None
        if old:  # the kubelet keeps one dead container per container for its logs; older ones go
            try:
                cri.remove_container(self.endpoint, old)
            except cri.CRIError:
                pass
        self.log(f'"Started container" pod="{meta["namespace"]}/{meta["name"]}" container="{c["name"]}" '
                 f'restarts={cs.restarts}')

    def _status(self, cs):
        if not cs.id:
            return None
        try:
            return cri.container_status(self.endpoint, cs.id)
        except cri.CRIError:
            return None

    def _restart_due(self, cs, status, restart_policy):
        if restart_policy == "Never" or (restart_policy == "OnFailure" and status["exit_code"] == 0):
            return None
        if cs.finished_mono == 0.0:
            cs.finished_mono = time.monotonic()
        wait = backoff_seconds(cs.restarts) if cs.restarts else 0
        return time.monotonic() >= cs.finished_mono + wait

    def _sync_init(self, pod, st, restart_policy):
        """Init containers in order; -> True once all completed."""
        for c in (pod.get("spec") or {}).get("initContainers") or []:
            cs = st.container(c["name"])
            if cs.completed:
                continue
            status = self._status(cs)
            if status is None:
                self._start(pod, st, c, cs)
                return False
            if status["state"] == "CONTAINER_EXITED":
                if status["exit_code"] == 0:
                    cs.completed = True
                    continue
                policy = "OnFailure" if restart_policy == "Always" else restart_policy
                due = self._restart_due(cs, status, policy)
                if due is None:
                    st.terminal = "Failed"  # an init container failed for good
                elif due:
                    cs.last_terminated = self._terminated(status)
                    cs.restarts += 1
                    cs.finished_mono = 0.0
                    self._start(pod, st, c, cs)
            return False
        return True

    def _sync_container(self, pod, st, c, restart_policy):
        cs = st.container(c["name"])
        status = self._status(cs)
        if status is None:
            self._start(pod, st, c, cs)
            return
        if status["state"] == "CONTAINER_RUNNING":
            self._probe(pod, st, c, cs)
            return
        if status["state"] == "CONTAINER_EXITED":
            due = self._restart_due(cs, status, restart_policy)
            if due:
                cs.last_terminated = self._terminated(status)
                cs.restarts += 1
                cs.finished_mono = 0.0
                self._start(pod, st, c, cs)

    def _probe(self, pod, st, c, cs):
        for probe, kind in ((cs.readiness, "Readiness"), (cs.liveness, "Liveness")):
            if probe is None or not probe.due(cs.started_mono):
                continue
            ok, why = self._run_probe(probe.spec, st, c, cs)
            probe.record(ok)
            if not ok:
                self.log(f'"Probe failed" probeType="{kind}" pod="{pod["metadata"]["namespace"]}/'
                         f'{pod["metadata"]["name"]}" containerName="{c["name"]}" output="{why}"')
            if kind == "Liveness" and probe.ok is False:
                self.log(f'"Container failed liveness probe, will be restarted" containerName="{c["name"]}"')
                try:
                    cri.stop_container(self.endpoint, cs.id, grace=int(
                        (pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 30))
                except cri.CRIError:
                    pass
                cs.liveness = Probe(probe.spec)

    def _run_probe(self, spec, st, c, cs):
        timeout = int(spec.get("timeoutSeconds") or 1)
        try:
            if "httpGet" in spec:
                g = spec["httpGet"]
                host = g.get("host") or st.ip or "127.0.0.1"
                conn = http.client.HTTPConnection(host, resolve_port(g.get("port"), c), timeout=timeout)
                try:
                    conn.request("GET", g.get("path") or "/", headers={"User-Agent": "kube-probe/1.37"})
                    code = conn.getresponse().status
                finally:
                    conn.close()
                return 200 <= code < 400, f"HTTP probe failed with statuscode: {code}"
            if "tcpSocket" in spec:
                t = spec["tcpSocket"]
                with socket.create_connection((t.get("host") or st.ip or "127.0.0.1",
                                               resolve_port(t.get("port"), c)), timeout=timeout):
                    return True, ""
            if "exec" in spec:
                res = cri.exec_sync(self.endpoint, cs.id, spec["exec"].get("command") or [], timeout)
                return res["exit_code"] == 0, (res["stdout"] + res["stderr"])[:200]
        except (OSError, ValueError, cri.CRIError) as exc:
            return False, str(exc)
        return True, ""

    @staticmethod
    def _terminated(status):
        reason = status.get("reason") or ("Completed" if status["exit_code"] == 0 else "Error")
        out = {"exitCode": status["exit_code"], "reason": reason, "startedAt": rfc3339(status["started_at"]),
               "finishedAt": rfc3339(status["finished_at"]), "containerID": f"containerd://{status['id']}"}
        if status.get("message"):
            out["message"] = status["message"]
        return out

    # ------------------------------------------------------------------ status
    def _container_report(self, pod, st, c, restart_policy, init=False):
        cs = st.container(c["name"])
        status = self._status(cs)
        last = {"terminated": cs.last_terminated} if cs.last_terminated else {}
        extra = {}
        if status is None:
            reason, message = cs.waiting or (("PodInitializing" if init is False and
                                              (pod.get("spec") or {}).get("initContainers") else
                                              "ContainerCreating"), "")
            w = {"reason": reason}
            if message:
                w["message"] = message
            return (c, {"waiting": w}, False, cs.restarts, last, extra)
        extra = {"containerID": f"containerd://{status['id']}", "imageID": status["image_ref"]}
        if cs.waiting and cs.waiting[0] in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull",
                                            "CreateContainerError", "RunContainerError"):
            return (c, {"waiting": {"reason": cs.waiting[0], "message": cs.waiting[1]}}, False, cs.restarts,
                    last, extra)
        if status["state"] == "CONTAINER_RUNNING":
            ready = True if cs.readiness is None else bool(cs.readiness.ok)
            if init:
                ready = False
            return (c, {"running": {"startedAt": rfc3339(status["started_at"])}}, ready, cs.restarts, last, extra)
        if status["state"] == "CONTAINER_EXITED":
            term = self._terminated(status)
            policy = restart_policy if not init else ("OnFailure" if restart_policy == "Always" else restart_policy)
            restarting = not (policy == "Never" or (policy == "OnFailure" and status["exit_code"] == 0))
            if init and status["exit_code"] == 0:
                restarting = False
            if restarting and not st.terminal:
                wait = backoff_seconds(cs.restarts) if cs.restarts else 0
                meta = pod["metadata"]
                return (c, {"waiting": {"reason": "CrashLoopBackOff", "message": (
                    f"back-off {wait}s restarting failed container={c['name']} "
                    f"pod={meta['name']}_{meta['namespace']}({meta['uid']})")}}, False, cs.restarts,
                    {"terminated": term}, extra)
            return (c, {"terminated": term}, False, cs.restarts, last, extra)
        return (c, {"waiting": {"reason": "ContainerCreating"}}, False, cs.restarts, last, extra)

    def _report(self, pod, st, restart_policy):
        spec = pod.get("spec") or {}
        init_states = [self._container_report(pod, st, c, restart_policy, init=True)
                       for c in spec.get("initContainers") or []]
        initialized = all(st.container(c["name"]).completed for c in spec.get("initContainers") or [])
        states = [self._container_report(pod, st, c, restart_policy) for c in spec.get("containers") or []]
        running = waiting = stopped = succeeded = 0
        for _c, state, _ready, _r, last, _e in states:
            if "running" in state:
                running += 1
            elif "terminated" in state:
                stopped += 1
                succeeded += state["terminated"]["exitCode"] == 0
            elif last.get("terminated"):
                stopped += 1
                succeeded += last["terminated"]["exitCode"] == 0
            else:
                waiting += 1
        if st.terminal:
            phase = st.terminal
        elif not initialized or waiting:
            phase = "Pending"
        elif running:
            phase = "Running"
        elif restart_policy == "Always":
            phase = "Running"
        elif stopped == succeeded:
            phase = "Succeeded"
        elif restart_policy == "Never":
            phase = "Failed"
        else:
            phase = "Running"
        if phase in ("Succeeded", "Failed") and not st.terminal:
            st.terminal = phase  # the pod is done: its phase does not change any more
            self.teardown(pod["metadata"]["uid"], grace=0, forget=False)
        uid = pod["metadata"]["uid"]
        if phase == "Running" and all(s[2] for s in states) and "ready_s" not in self.metrics.get(uid, {}):
            created = pod["metadata"].get("creationTimestamp")
            if created:
                t = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                self.metrics.setdefault(uid, {})["ready_s"] = round(
                    (datetime.datetime.now(datetime.timezone.utc) - t).total_seconds(), 1)
                self.log(f'"Pod ready" pod="{pod["metadata"]["namespace"]}/{pod["metadata"]["name"]}" '
                         f'secondsSinceCreation={self.metrics[uid]["ready_s"]}')
        return {"phase": phase, "ip": st.ip, "sandbox_ready": bool(st.sandbox_id), "initialized": initialized,
                "states": states, "init_states": init_states, "sandbox_error": st.sandbox_error}

    # --------------------------------------------------------------- teardown
    def _kill_sandbox(self, st, grace):
        for cs in st.containers.values():
            if cs.id:
                try:
                    cri.stop_container(self.endpoint, cs.id, grace=grace)
                except cri.CRIError:
                    pass
        if st.sandbox_id:
            try:
                cri.stop_pod_sandbox(self.endpoint, st.sandbox_id)
            except cri.CRIError as exc:
                self.log(f'"StopPodSandbox failed" sandbox="{st.sandbox_id[:13]}" err="{exc}"')

    def teardown(self, uid, grace=30, forget=True):
        """Stop and remove the pod's containers and sandbox in a thread; done(uid) tells when it finished."""
        with self.lock:
            if uid in self.terminating:
                if forget:  # a stop of a finished pod is under way: the removal follows it
                    self.removal_after[uid] = grace
                return
            st = self.pods.get(uid)

            def run():
                try:
                    deadline = time.monotonic() + 300
                    while st is not None and st.busy and time.monotonic() < deadline:
                        time.sleep(0.2)  # the pod worker finishes its runtime call first
                    boxes = []
                    try:
                        boxes = cri.list_pod_sandboxes(self.endpoint, labels={UID_LABEL: uid})
                    except cri.CRIError:
                        pass
                    state = st or PodState(uid)
                    self._kill_sandbox(state, grace)
                    if not forget:
                        return
                    for box in boxes:
                        try:
                            cri.stop_pod_sandbox(self.endpoint, box["id"])
                            cri.remove_pod_sandbox(self.endpoint, box["id"])
                        except cri.CRIError as exc:
                            self.log(f'"RemovePodSandbox failed" sandbox="{box["id"][:13]}" err="{exc}"')
                    # the pod's cgroup (its QoS class is not known for a pod adopted or gone: every candidate)
                    parents = [state.parent] if state.parent else [
                        cgroup_parent(self.cgroup_driver, qos, uid) for qos in ("Guaranteed", "Burstable", "BestEffort")]
                    for parent in parents:
                        remove_pod_cgroup(self.cgroup_driver, parent)
                    self.log(f'"Pod removed from the runtime" podUID="{uid}"')
                finally:
                    with self.lock:
                        self.terminating.pop(uid, None)
                        if forget:
                            self.pods.pop(uid, None)
                            self.torn_down.add(uid)
                        again = self.removal_after.pop(uid, None)
                    if again is not None:
                        self.teardown(uid, grace=again)

            t = threading.Thread(target=run, daemon=True)
            self.terminating[uid] = t
        t.start()

    def done(self, uid):
        with self.lock:
            return uid in self.torn_down

    def forget_done(self, uid):
        with self.lock:
            self.torn_down.discard(uid)

    def collect(self, live_uids):
        """Pods the kubelet runs that are no longer bound here (deleted without grace, or unknown after a
        restart): their sandboxes go."""
        with self.lock:
            known = set(self.pods)
        try:
            boxes = cri.list_pod_sandboxes(self.endpoint)
        except cri.CRIError:
            boxes = []
        orphans = {b["labels"].get(UID_LABEL) for b in boxes if b["labels"].get(UID_LABEL)} | known
        for uid in orphans - set(live_uids):
            with self.lock:
                busy = uid in self.terminating
            if not busy and uid not in self.torn_down:
                self.teardown(uid, grace=0)
