"""The kubelet stand-in's main loop: node registration, heartbeats, static and bound pods."""

import copy
import datetime
import http.server
import ipaddress
import json
import os
import threading
import time

from ..apiclient import ApiError, Client, resource_path
from . import bootstrap, cri, flanneld, host, kubeproxy, pods, runtime, staticpods

LEASE_NS = "kube-node-lease"


def now_str():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.split("?")[0] in ("/healthz", "/healthz/ping", "/healthz/syncloop"):
            body = b"ok"
            self.send_response(200)
        else:
            body = b"404 page not found\n"
            self.send_response(404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_healthz(address, port):
    if not port:
        return None
    srv = http.server.ThreadingHTTPServer((address or "127.0.0.1", port), _Healthz)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Kubelet:
    def __init__(self, *, client, node_name, node_ip, config, runtime_endpoint, runtime_version,
                 root_dir, log, version, node_labels=None, register_taints=None,
                 cni_conf_dir="/etc/cni/net.d", kubeconfig=None, cert_dir=None, node_ip_explicit=False,
                 log_error=None, cgroup_driver=None):
        self.client = client
        self.kubeconfig = kubeconfig
        self.cert_dir = cert_dir or os.path.join(root_dir, "pki")
        self.rotation_started = False
        # certificate manager: seed the store from embedded credentials and force a rotation
        self.force_rotation = bool(config.get("rotateCertificates") and kubeconfig
                                   and bootstrap.seed_store_from_kubeconfig(kubeconfig, self.cert_dir))
        self.node_name = node_name
        self.node_ip = node_ip
        self.node_ip_explicit = node_ip_explicit  # given with --node-ip (validated), not detected
        self.log_error = log_error or log
        self.config = config
        self.endpoint = runtime_endpoint
        self.runtime_version = runtime_version
        self.log = log
        self.version = version
        self.node_labels = node_labels or {}
        self.register_taints = register_taints or []
        self.cni_conf_dir = host.host_path(cni_conf_dir)
        self.static_dir = config.get("staticPodPath")
        self.runner = staticpods.StaticPodRunner(os.path.join(root_dir, "kubesim-static"), log)
        self.node_uid = None
        self.conditions = {}
        self.last_status_report = 0.0
        self.last_lease = 0.0
        self.status_freq = self._seconds(config.get("nodeStatusUpdateFrequency"), 10.0)
        self.lease_seconds = int(config.get("nodeLeaseDurationSeconds") or 40)
        self.sent = {}          # pod uid -> last status sent (json)
        self.started = {}       # pod uid -> startedAt
        self.crash = {}         # pod uid -> (restarts, next restart monotonic)
        self.crash_err = {}     # pod uid -> last error of the modelled container
        self.init_done = {}     # pod uid -> init container states (they ran once)
        self.cni_running = {}   # pod uid -> (container states, init states) once flanneld is up
        self.pod_ips = {}       # pod uid -> ip
        self.static_pods = {}   # unit -> (pod, digest, error)
        self.network_ready = (False, "", "")
        # flanneld's vxlan backend on the real host network (not when host paths are redirected for a test)
        self.flanneld = flanneld.Flanneld(client, node_name, log) if flanneld.enabled() else None
        # kube-proxy's iptables rules while its DaemonSet pod is here (same condition)
        self.kube_proxy = kubeproxy.KubeProxy(client, node_name, log) if flanneld.enabled() else None
        self.proxy_pods = {}    # pod uid -> kube-proxy's config.conf text
        # ordinary pods run through the runtime's CRI (issue 14)
        self.runtime = runtime.PodRuntime(runtime_endpoint, node_name,
                                          cgroup_driver or config.get("cgroupDriver") or "cgroupfs", log,
                                          config.get("podLogsDir") or "/var/log/pods")

    @staticmethod
    def _seconds(value, default):
        """A config duration; zero or unset means the kubelet's default (kubeadm writes "0s")."""
        if value in (None, ""):
            return default
        from ..controllers.flags import parse_duration
        try:
            return parse_duration(value) or default
        except Exception:
            return default

    # -------------------------------------------------------------- registration
    def node_object(self):
        labels = {
            "beta.kubernetes.io/arch": host.arch(), "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": host.arch(), "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
        }
        labels.update(self.node_labels)
        spec = {}
        if self.register_taints:
            spec["taints"] = self.register_taints
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name, "labels": labels,
                         "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true",
                                         "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": spec,
        }

    def register(self):
        """registerWithAPIServer: create the Node, or adopt an existing one with our name.

        One attempt per call (the loop retries): static pods keep running while the API
        server is not reachable yet, as on the first control plane during kubeadm init.
        """
        for _ in range(1):
            try:
                node = self.client.create("/api/v1/nodes", self.node_object())
                self.log(f'"Successfully registered node" node="{self.node_name}"')
                break
            except ApiError as exc:
                if exc.status == 409:
                    node = self.client.get(f"/api/v1/nodes/{self.node_name}")
                    want = self.node_object()["metadata"]["labels"]
                    have = node["metadata"].get("labels") or {}
                    missing = {k: v for k, v in want.items() if have.get(k) != v}
                    if missing:
                        self.client.patch(f"/api/v1/nodes/{self.node_name}",
                                          {"metadata": {"labels": missing}})
                    self.log(f'"Node was previously registered" node="{self.node_name}"')
                    break
                self.log(f'"Unable to register node with API server" err="{exc.message}" node="{self.node_name}"')
                return False
        self.node_uid = node["metadata"].get("uid")
        self.report_status(force=True)
        self.renew_lease()
        return True

    # -------------------------------------------------------------------- status
    def runtime_state(self):
        """(runtime_ok, network_ok, message) from the REAL runtime's CRI Status + the CNI conf dir."""
        try:
            conds = cri.status(self.endpoint, timeout=5)
        except cri.CRIError as exc:
            return False, False, f"container runtime is down: {exc}"
        rt = conds.get("RuntimeReady", (False, "", ""))
        if not rt[0]:
            return False, False, (f"container runtime status check may not have completed yet: "
                                  f"RuntimeReady=false reason:{rt[1]} message:{rt[2]}")
        net = conds.get("NetworkReady", (False, "NetworkPluginNotReady", "Network plugin returns error: cni plugin not initialized"))
        has_conf = self.cni_config_present()
        if not net[0] or not has_conf:
            reason = net[1] if not net[0] else "NetworkPluginNotReady"
            message = net[2] if not net[0] else "Network plugin returns error: cni plugin not initialized"
            return True, False, (f"container runtime network not ready: NetworkReady=false "
                                 f"reason:{reason} message:{message}")
        return True, True, ""

    def cni_config_present(self):
        try:
            return any(n.endswith((".conf", ".conflist", ".json")) for n in os.listdir(self.cni_conf_dir))
        except OSError:
            return False

    def build_conditions(self, runtime_ok, network_ok, message):
        stamp = now_str()
        wanted = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ]
        if runtime_ok and network_ok:
            wanted.append(("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
        else:
            wanted.append(("Ready", "False", "KubeletNotReady", message))
        out = []
        for ctype, status, reason, msg in wanted:
            prev = self.conditions.get(ctype)
            trans = prev["lastTransitionTime"] if prev and prev["status"] == status else stamp
            out.append({"type": ctype, "status": status, "reason": reason, "message": msg,
                        "lastHeartbeatTime": stamp, "lastTransitionTime": trans})
        return out

    def report_status(self, force=False):
        runtime_ok, network_ok, message = self.runtime_state()
        self.network_ready = (runtime_ok, network_ok, message)
        key = [(c["type"], c["status"], c["message"]) for c in self.conditions.values()]
        conds = self.build_conditions(runtime_ok, network_ok, message)
        changed = [(c["type"], c["status"], c["message"]) for c in conds] != key
        due = time.monotonic() - self.last_status_report >= self.status_freq
        if not (force or changed or due):
            return
        cap = host.capacity()
        status = {
            "conditions": conds,
            "capacity": cap, "allocatable": dict(cap),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": int(self.config.get("port") or 10250)}},
            "nodeInfo": host.node_info(self.version, self.runtime_version),
        }
        addresses = self.node_addresses()
        if addresses is not None:
            status["addresses"] = addresses
        try:
            self.client.patch(f"/api/v1/nodes/{self.node_name}/status", {"status": status})
        except ApiError as exc:
            self.log(f'"Error updating node status, will retry" err="{exc.message}"')
            return
        if changed:
            ready = next(c for c in conds if c["type"] == "Ready")
            self.log(f'"Node became {"Ready" if ready["status"] == "True" else "not ready"}" '
                     f'node="{self.node_name}" condition={json.dumps(ready)}')
        self.conditions = {c["type"]: c for c in conds}
        self.last_status_report = time.monotonic()

    def node_addresses(self):
        """nodestatus.NodeAddress: an explicit --node-ip must be one of the host's addresses.

        Not fatal in the kubelet: the setter fails, the kubelet logs it on every status update
        and the Node keeps no (or its previous) addresses; the other fields are still set.
        """
        if self.node_ip_explicit:
            err = host.validate_node_ip(self.node_ip)
            if err:
                self.log_error(f'"Failed to set some node status fields" err="failed to validate nodeIP: '
                               f'{err.replace(chr(34), chr(92) + chr(34))}" node="{self.node_name}"')
                return None
        return [{"type": "InternalIP", "address": self.node_ip}, {"type": "Hostname", "address": self.node_name}]

    def renew_lease(self):
        path = resource_path("coordination.k8s.io/v1", "leases", LEASE_NS, self.node_name)
        stamp = now_micro()
        try:
            lease = self.client.get_or_none(path)
            if lease is None:
                body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.node_name, "namespace": LEASE_NS,
                                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                                          "name": self.node_name, "uid": self.node_uid}]
                                     if self.node_uid else []},
                        "spec": {"holderIdentity": self.node_name,
                                 "leaseDurationSeconds": self.lease_seconds, "renewTime": stamp}}
                self.client.create(resource_path("coordination.k8s.io/v1", "leases", LEASE_NS), body)
            else:
                lease.setdefault("spec", {}).update({"holderIdentity": self.node_name,
                                                     "leaseDurationSeconds": self.lease_seconds,
                                                     "renewTime": stamp})
                self.client.update(path, lease)
            self.last_lease = time.monotonic()
        except ApiError as exc:
            self.log(f'"Failed to update lease" err="{exc.message}"')

    # --------------------------------------------------------------- static pods
    def sync_static_pods(self):
        if not self.static_dir:
            return
        manifests = staticpods.read_manifests(self.static_dir)
        self.static_pods = self.runner.sync(manifests)

    def sync_mirror_pods(self, node):
        for unit, (pod, digest, error) in self.static_pods.items():
            name = f"{pod['metadata']['name']}-{self.node_name}"
            ns = pod["metadata"].get("namespace") or "default"
            path = resource_path("v1", "pods", ns, name)
            try:
                mirror = self.client.get_or_none(path)
                if mirror is not None:
                    ann = mirror["metadata"].get("annotations") or {}
                    if mirror["metadata"].get("deletionTimestamp") or \
                            ann.get("kubernetes.io/config.mirror") != digest:
                        self.client.delete(path, gracePeriodSeconds=0)
                        mirror = None
                if mirror is None:
                    mirror = self.client.create(resource_path("v1", "pods", ns),
                                                self.mirror_object(pod, digest, name, ns))
                    self.log(f'"Created mirror pod" pod="{ns}/{name}"')
                self.update_pod_status(mirror, self.static_status(mirror, unit, error))
            except ApiError as exc:
                self.log(f'"Failed creating a mirror pod" pod="{ns}/{name}" err="{exc.message}"')

    def mirror_object(self, pod, digest, name, ns):
        meta = pod.get("metadata") or {}
        ann = dict(meta.get("annotations") or {})
        ann.update({"kubernetes.io/config.hash": digest, "kubernetes.io/config.mirror": digest,
                    "kubernetes.io/config.seen": now_micro()[:-4] + "Z",
                    "kubernetes.io/config.source": "file"})
        spec = copy.deepcopy(pod.get("spec") or {})
        spec["nodeName"] = self.node_name
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": meta.get("labels") or {},
                             "annotations": ann,
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                                  "uid": self.node_uid, "controller": True}]},
                "spec": spec}

    def static_status(self, mirror, unit, error):
        uid = mirror["metadata"].get("uid")
        active = error is None and self.runner.active(unit)
        restarts = self.runner.restarts(unit) if error is None else 0
        states = []
        for c in (mirror.get("spec") or {}).get("containers") or []:
            if error:
                st = {"waiting": {"reason": "ErrImagePull", "message": error}}
            elif active:
                st = {"running": {"startedAt": self.started.setdefault(uid, now_str())}}
            else:
                self.started.pop(uid, None)
                st = {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": f"back-off restarting failed container={c['name']} "
                                             f"pod={mirror['metadata']['name']}_{mirror['metadata']['namespace']}"
                                             f"({uid})"}}
            states.append((c, st, active, restarts))
        return self.compose_status(mirror, "Running" if active else "Pending", states, host_network=True)

    # ---------------------------------------------------------------- bound pods
    def get_configmap(self, ns, name):
        try:
            return self.client.get_or_none(resource_path("v1", "configmaps", ns, name))
        except ApiError:
            return None

    def sync_bound_pods(self, node):
        try:
            items = (self.client.list("/api/v1/pods",
                                      field_selector=f"spec.nodeName={self.node_name}") or {}).get("items") or []
        except ApiError as exc:
            self.log(f'"Failed to list pods" err="{exc.message}"')
            return
        live, real = set(), set()
        for pod in items:
            if (pod.get("spec") or {}).get("nodeName") != self.node_name:
                continue  # a server that ignores fieldSelector
            ann = pod["metadata"].get("annotations") or {}
            if "kubernetes.io/config.mirror" in ann:
                continue
            uid = pod["metadata"].get("uid")
            live.add(uid)
            is_real = self.runs_in_runtime(pod)
            if is_real:
                real.add(uid)
            if pod["metadata"].get("deletionTimestamp") and is_real and not self.runtime.done(uid):
                # the containers get the pod's grace period; the API object goes once they are gone
                self.runtime.teardown(uid, grace=int(pod["metadata"].get("deletionGracePeriodSeconds") or 0))
                continue
            if pod["metadata"].get("deletionTimestamp"):
                self.runtime.forget_done(uid)
                try:
                    self.client.delete(resource_path("v1", "pods", pod["metadata"]["namespace"],
                                                     pod["metadata"]["name"]),
                                       {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                        "preconditions": {"uid": uid}})
                except ApiError:
                    pass
                continue
            try:
                self.update_pod_status(pod, self.bound_status(pod, node))
            except ApiError as exc:
                self.log(f'"Failed to update pod status" pod="{pod["metadata"]["name"]}" err="{exc.message}"')
        self.runtime.collect(real)
        for table in (self.crash, self.pod_ips, self.crash_err, self.init_done, self.cni_running, self.proxy_pods):
            for uid in list(table):
                if uid not in live:
                    table.pop(uid, None)
        self.sync_flanneld()
        self.sync_kube_proxy()

    def sync_kube_proxy(self):
        if self.kube_proxy is None:
            return
        if not self.proxy_pods:
            self.kube_proxy.stop()
            return
        self.kube_proxy.start(next(iter(self.proxy_pods.values())))
        try:
            services = (self.client.list("/api/v1/services") or {}).get("items") or []
            slices = (self.client.list("/apis/discovery.k8s.io/v1/endpointslices") or {}).get("items") or []
        except ApiError as exc:
            self.log(f'"kube-proxy: failed to list services" err="{exc.message}"')
            return
        self.kube_proxy.sync(services, slices)

    def sync_flanneld(self):
        """flanneld's subnet events while its pod runs here; its device goes with the pod."""
        if self.flanneld is None:
            return
        if not self.cni_running:
            self.flanneld.stop()
            return
        if not self.flanneld.active:
            return
        try:
            nodes = (self.client.list("/api/v1/nodes") or {}).get("items") or []
        except ApiError as exc:
            self.log(f'"flanneld: failed to list nodes" err="{exc.message}"')
            return
        self.flanneld.sync(nodes)

    def pod_ip(self, pod, node):
        if (pod.get("spec") or {}).get("hostNetwork"):
            return self.node_ip
        uid = pod["metadata"].get("uid")
        if uid in self.pod_ips:
            return self.pod_ips[uid]
        cidr = (node.get("spec") or {}).get("podCIDR")
        if not cidr:
            return None
        net = ipaddress.ip_network(cidr, strict=False)
        used = set(self.pod_ips.values())
        # modelled pods (kube-proxy, CoreDNS) take addresses from the top of the node's range: host-local, which
        # hands out those of the pods that really run, starts at the bottom
        for i in range(2, min(net.num_addresses - 1, 65536)):
            ip = str(net.broadcast_address - i + 1)
            if ip not in used:
                self.pod_ips[uid] = ip
                return ip
        return None

    @staticmethod
    def runs_in_runtime(pod):
        """Every pod but the CNI DaemonSet's and the modelled kube-proxy/CoreDNS runs through the CRI."""
        images = {pods.image_name(c.get("image")) for c in (pod.get("spec") or {}).get("containers") or []}
        return bool(images) and not images & pods.CNI_IMAGES and not images <= pods.MODELLED_RUNNING

    def bound_status(self, pod, node):
        spec = pod.get("spec") or {}
        uid = pod["metadata"].get("uid")
        containers = spec.get("containers") or []
        images = {pods.image_name(c.get("image")) for c in containers}
        ctx = pods.PodContext(pod, self.get_configmap)
        if images & pods.CNI_IMAGES:
            return self.cni_pod_status(pod, node, ctx)
        if self.runs_in_runtime(pod):
            r = self.runtime.sync(pod, self.network_ready[1])
            return self.compose_status(pod, r["phase"], r["states"], init_states=r["init_states"],
                                       host_network=bool(spec.get("hostNetwork")), node=node,
                                       sandbox_ready=r["sandbox_ready"], initialized=r["initialized"],
                                       ip=r["ip"] or None, qos=runtime.qos_class(spec))
        known = images and images <= pods.MODELLED_RUNNING
        if known and self.kube_proxy is not None and "kube-proxy" in images:
            c = next(c for c in containers if pods.image_name(c.get("image")) == "kube-proxy")
            argv = list(c.get("command") or []) + list(c.get("args") or [])
            path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "/var/lib/kube-proxy/config.conf")
            try:
                self.proxy_pods[uid] = ctx.read(c, path).decode()
            except FileNotFoundError:
                self.proxy_pods[uid] = ""
        needs_net = not spec.get("hostNetwork")
        if known and needs_net and not self.network_ready[1]:
            states = [(c, {"waiting": {"reason": "ContainerCreating"}}, False, 0) for c in containers]
            return self.compose_status(pod, "Pending", states, sandbox_ready=False,
                                       host_network=False, node=node)
        if known:
            states = [(c, {"running": {"startedAt": self.started.setdefault(uid, now_str())}}, True, 0)
                      for c in containers]
            return self.compose_status(pod, "Running", states, host_network=not needs_net, node=node)
        states = []
        for c in containers:
            states.append((c, {"waiting": {"reason": "ErrImagePull", "message": (
                f'failed to pull and unpack image "{c.get("image")}": the kubesim stand-in cluster '
                f'has no container images and runs no containers')}}, False, 0))
        return self.compose_status(pod, "Pending", states, sandbox_ready=self.network_ready[1] or not needs_net,
                                   host_network=not needs_net, node=node)

    def cni_pod_status(self, pod, node, ctx):
        spec = pod.get("spec") or {}
        uid = pod["metadata"].get("uid")
        if uid in self.cni_running:  # flanneld only reads its config at start
            return self.compose_status(pod, "Running", self.cni_running[uid][0],
                                       init_states=self.cni_running[uid][1], host_network=True, node=node)
        if uid in self.init_done:  # init containers run once per pod
            init_states, init_ok = self.init_done[uid], True
            return self._cni_main(pod, node, ctx, spec, uid, init_states)
        init_states = []
        init_ok = True
        for ic in spec.get("initContainers") or []:
            if not init_ok:
                init_states.append((ic, {"waiting": {"reason": "PodInitializing"}}, False, 0))
                continue
            code, msg = pods.run_init_container(ctx, ic)
            if code == 0:
                init_states.append((ic, {"terminated": {"exitCode": 0, "reason": "Completed",
                                                        "startedAt": now_str(), "finishedAt": now_str()}}, False, 0))
            else:
                init_ok = False
                init_states.append((ic, {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}, False, 1))
        states = []
        if not init_ok:
            for c in spec.get("containers") or []:
                states.append((c, {"waiting": {"reason": "PodInitializing"}}, False, 0))
            return self.compose_status(pod, "Pending", states, init_states=init_states, host_network=True,
                                       node=node, initialized=False)
        self.init_done[uid] = init_states
        return self._cni_main(pod, node, ctx, spec, uid, init_states)

    def _cni_main(self, pod, node, ctx, spec, uid, init_states):
        ok, err, env = True, "", None
        restarts, next_at = self.crash.get(uid, (0, 0.0))
        if restarts and time.monotonic() < next_at:
            # in back-off: the container is not restarted (nor re-checked) before next_at
            ok, err = False, self.crash_err.get(uid, "")
            return self._crashloop(pod, spec, uid, init_states, node, restarts, err)
        for c in spec.get("containers") or []:
            if pods.image_name(c.get("image")) in pods.CNI_IMAGES:
                mtu, conf = 1500, {}
                if self.flanneld is not None:
                    ok, err, mtu = self.flanneld.interface(list(c.get("command") or []) + list(c.get("args") or []))
                if ok:
                    ok, err, env = pods.flanneld_check(ctx, c, node, iface_mtu=mtu, conf_out=conf)
                if ok and self.flanneld is not None \
                        and ((conf.get("Backend") or {}).get("Type") or "vxlan").lower() == "vxlan":
                    ok, err = self.flanneld.start(conf, node, mtu)
                if ok:
                    pods.write_subnet_env(ctx, c, env)
                break
        if ok:
            self.crash_err.pop(uid, None)
            states = [(c, {"running": {"startedAt": self.started.setdefault(uid, now_str())}}, True, restarts)
                      for c in spec.get("containers") or []]
            self.cni_running[uid] = (states, init_states)
            return self.compose_status(pod, "Running", states, init_states=init_states, host_network=True, node=node)
        restarts += 1
        self.crash[uid] = (restarts, time.monotonic() + pods.backoff_seconds(restarts))
        self.crash_err[uid] = err
        self.log(f'"flanneld (modelled) exited" pod="{pod["metadata"]["namespace"]}/{pod["metadata"]["name"]}" err="{err}"')
        return self._crashloop(pod, spec, uid, init_states, node, restarts, err)

    def _crashloop(self, pod, spec, uid, init_states, node, restarts, err):
        states = []
        for c in spec.get("containers") or []:
            st = {"waiting": {"reason": "CrashLoopBackOff",
                              "message": f"back-off {pods.backoff_seconds(restarts)}s restarting failed container="
                                         f"{c['name']} pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({uid})"}}
            states.append((c, st, False, restarts, {"terminated": {
                "exitCode": 1, "reason": "Error", "message": err,
                "startedAt": now_str(), "finishedAt": now_str()}}))
        return self.compose_status(pod, "Running", states, init_states=init_states, host_network=True, node=node)

    # ----------------------------------------------------------- status helpers
    def compose_status(self, pod, phase, states, init_states=None, host_network=True, node=None,
                       sandbox_ready=True, initialized=True, ip=None, qos=None):
        ready = phase == "Running" and all(s[2] for s in states)
        status = {"phase": phase, "hostIP": self.node_ip, "hostIPs": [{"ip": self.node_ip}],
                  "qosClass": qos or (pod.get("status") or {}).get("qosClass") or "BestEffort"}
        if ip is None:
            ip = self.node_ip if host_network else (self.pod_ip(pod, node or {}) if sandbox_ready else None)
        elif host_network:
            ip = self.node_ip
        if ip:
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        start = (pod.get("status") or {}).get("startTime") or now_str()
        status["startTime"] = start

        def cond(ctype, ok):
            prev = next((c for c in (pod.get("status") or {}).get("conditions") or []
                         if c.get("type") == ctype), None)
            val = "True" if ok else "False"
            trans = prev.get("lastTransitionTime") if prev and prev.get("status") == val else now_str()
            out = {"type": ctype, "status": val, "lastProbeTime": None, "lastTransitionTime": trans}
            if not ok and ctype in ("Ready", "ContainersReady"):
                waiting = [s[0]["name"] for s in states if not s[2]]
                out["reason"] = "ContainersNotReady"
                out["message"] = f"containers with unready status: [{' '.join(waiting)}]"
            if not ok and ctype == "Initialized":
                out["reason"] = "ContainersNotInitialized"
                out["message"] = "containers with incomplete status: [" + " ".join(
                    s[0]["name"] for s in init_states or [] if "terminated" not in s[1]) + "]"
            return out

        status["conditions"] = [cond("PodReadyToStartContainers", sandbox_ready),
                                cond("Initialized", initialized), cond("Ready", ready),
                                cond("ContainersReady", ready), cond("PodScheduled", True)]

        def cstatus(entry):
            c, st, is_ready, restarts = entry[:4]
            out = {"name": c["name"], "image": c.get("image"), "imageID": "", "ready": is_ready,
                   "restartCount": restarts, "started": "running" in st, "state": st,
                   "lastState": entry[4] if len(entry) > 4 else {}}
            out.update(entry[5] if len(entry) > 5 else {})
            return out

        status["containerStatuses"] = [cstatus(s) for s in states]
        if init_states:
            status["initContainerStatuses"] = [cstatus(s) for s in init_states]
        return status

    def update_pod_status(self, pod, status):
        uid = pod["metadata"].get("uid")

        def strip(st):
            st = json.loads(json.dumps(st))
            for c in st.get("conditions") or []:
                c.pop("lastTransitionTime", None)
            for key in ("containerStatuses", "initContainerStatuses"):
                for cs in st.get(key) or []:
                    for part in ("state", "lastState"):
                        for v in (cs.get(part) or {}).values():
                            if isinstance(v, dict):
                                v.pop("startedAt", None)
                                v.pop("finishedAt", None)
            return json.dumps(st, sort_keys=True)

        key = strip(status)
        if self.sent.get(uid) == key:
            return
        self.client.patch(resource_path("v1", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"], "status"),
                          {"status": status})
        self.sent[uid] = key

    # ---------------------------------------------------------------------- loop
    def start_rotation_if_needed(self):
        """Certificate manager (rotateCertificates): store a kubelet-client-current.pem."""
        if self.rotation_started or not self.config.get("rotateCertificates") or not self.kubeconfig:
            return
        self.rotation_started = True
        if not self.force_rotation:
            return

        def run():
            try:
                bootstrap.request_client_certificate(self.client, self.cert_dir, self.node_name, self.log,
                                                     digested_name=False)
            except Exception as exc:  # noqa: BLE001 - logged like the certificate manager does
                self.log(f'"Failed while requesting a signed certificate from the control plane" err="{exc}"')
        threading.Thread(target=run, daemon=True).start()

    def step(self):
        self.sync_static_pods()
        if self.node_uid is None and not self.register():
            return
        self.start_rotation_if_needed()
        self.report_status()
        if time.monotonic() - self.last_lease >= max(1.0, self.lease_seconds / 4.0):
            self.renew_lease()
        try:
            node = self.client.get(f"/api/v1/nodes/{self.node_name}")
        except ApiError as exc:
            self.log(f'"Error getting node" err="{exc.message}"')
            return
        self.sync_mirror_pods(node)
        self.sync_bound_pods(node)


def make_client(kubeconfig):
    return Client.from_kubeconfig(kubeconfig, user_agent="kubelet/kubesim")
