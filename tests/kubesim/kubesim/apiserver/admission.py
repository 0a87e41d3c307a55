"""Defaulting, the few validations and admission steps that matter, and what happens after writes
(garbage collection of dependents, namespace cleanup, CRD serving)."""

import base64
import ipaddress
import threading

from .store import APIError, invalid, now


# --- defaults -------------------------------------------------------------------------------------
def default_pod_spec(spec):
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        img = c.get("image") or ""
        tag = img.rsplit("/", 1)[-1]
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")


def _validate_containers(ops, spec, path):
    cs = (spec or {}).get("containers")
    if not cs:
        raise invalid(ops.res, ops.name or "", "%s.containers: Required value" % path,
                      [{"reason": "FieldValueRequired", "message": "Required value", "field": path + ".containers"}])
    for i, c in enumerate(cs):
        if not c.get("name"):
            raise invalid(ops.res, ops.name or "", "%s.containers[%d].name: Required value" % (path, i))
        if not c.get("image"):
            raise invalid(ops.res, ops.name or "", "%s.containers[%d].image: Required value" % (path, i))


def qos_class(spec):
    cs = (spec or {}).get("containers") or []
    if not any((c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") for c in cs):
        return "BestEffort"
    if all((c.get("resources") or {}).get("limits") and
           ((c.get("resources") or {}).get("requests") in (None, (c.get("resources") or {}).get("limits")))
           and set((c.get("resources") or {}).get("limits")) >= {"cpu", "memory"} for c in cs):
        return "Guaranteed"
    return "Burstable"


ANNOTATIONS_LIMIT = 256 * 1024


def validate_meta(ops, obj):
    """ObjectMeta validation that matters in practice: the total annotation size (what makes
    client-side apply of very large CRDs fail upstream) and label syntax."""
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations") or {}
    if sum(len(k) + len(str(v)) for k, v in ann.items()) > ANNOTATIONS_LIMIT:
        raise invalid(ops.res, meta.get("name", ""), "metadata.annotations: Too long: may not be more than %d bytes"
                      % ANNOTATIONS_LIMIT, [{"reason": "FieldValueTooLong", "field": "metadata.annotations",
                                             "message": "Too long: may not be more than %d bytes" % ANNOTATIONS_LIMIT}])
    for _k, v in (meta.get("labels") or {}).items():
        if not isinstance(v, str) or len(v) > 63:
            raise invalid(ops.res, meta.get("name", ""), 'metadata.labels: Invalid value: "%s": must be no more '
                          "than 63 characters" % v)


def on_create(ops, obj):
    validate_meta(ops, obj)
    kind = ops.res.kind
    meta = obj.setdefault("metadata", {})
    name = meta.get("name") or ""
    if kind == "Namespace":
        obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
        obj["status"] = {"phase": "Active"}
        if name:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    elif kind == "Pod":
        spec = obj.setdefault("spec", {})
        _validate_containers(ops, spec, "spec")
        default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        pc = spec.get("priorityClassName")
        spec.setdefault("priority", {"system-node-critical": 2000001000,
                                     "system-cluster-critical": 2000000000}.get(pc, 0))
        spec.setdefault("tolerations", [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}])
        st = obj.get("status") or {}
        # mirror pods from a kubelet keep what they report; others start Pending
        obj["status"] = {"phase": st.get("phase", "Pending") if _is_mirror(obj) else "Pending",
                         "qosClass": qos_class(spec)}
    elif kind in ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet"):
        spec = obj.setdefault("spec", {})
        tmpl = spec.setdefault("template", {})
        if not spec.get("selector"):
            raise invalid(ops.res, name, "spec.selector: Required value")
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        if any(labels.get(k) != v for k, v in sel.items()):
            raise invalid(ops.res, name, "spec.template.metadata.labels: Invalid value: %s: `selector` does not "
                          "match template `labels`" % _fmt_map(labels))
        _validate_containers(ops, tmpl.get("spec"), "spec.template.spec")
        default_workload(kind, spec)
        obj["status"] = {"Deployment": {}, "ReplicaSet": {"replicas": 0},
                         "StatefulSet": {"replicas": 0, "availableReplicas": 0},
                         "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                       "desiredNumberScheduled": 0, "numberReady": 0}}[kind]
    elif kind == "Service":
        default_service(ops, obj)
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        sd = obj.pop("stringData", None)
        if sd:
            data = obj.setdefault("data", {})
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
    elif kind == "CertificateSigningRequest":
        u = ops.h.user
        spec = obj.setdefault("spec", {})
        spec["username"] = u.name
        spec["groups"] = u.groups
        if u.uid:
            spec["uid"] = u.uid
        else:
            spec.pop("uid", None)
        if u.extra:
            spec["extra"] = u.extra
        if not spec.get("request"):
            raise invalid(ops.res, name, "spec.request: Required value")
        if not spec.get("signerName"):
            raise invalid(ops.res, name, "spec.signerName: Required value")
        obj["status"] = {}
    elif kind == "CustomResourceDefinition":
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        want = "%s.%s" % (names.get("plural"), spec.get("group"))
        if name != want:
            raise invalid(ops.res, name, 'metadata.name: Invalid value: "%s": must be spec.names.plural+"."+'
                          'spec.group' % name)
        acc = dict(names)
        acc.setdefault("singular", (names.get("kind") or "").lower())
        acc.setdefault("listKind", (names.get("kind") or "") + "List")
        t = now()
        obj["status"] = {"acceptedNames": acc, "storedVersions": [v["name"] for v in spec.get("versions") or []
                                                                   if v.get("storage")],
                         "conditions": [
                             {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t,
                              "reason": "NoConflicts", "message": "no conflicts found"},
                             {"type": "Established", "status": "True", "lastTransitionTime": t,
                              "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}]}
    elif kind == "ServiceAccount":
        pass
    elif kind == "PriorityClass":
        if "value" not in obj:
            raise invalid(ops.res, name, "value: Required value")
        obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    elif kind == "Node":
        obj.setdefault("spec", {})
        obj.setdefault("status", {})


def default_workload(kind, spec):
    default_pod_spec((spec.get("template") or {}).get("spec"))
    spec.setdefault("revisionHistoryLimit", 10)
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        spec.setdefault("replicas", 1)
    if kind == "Deployment":
        st = spec.setdefault("strategy", {})
        st.setdefault("type", "RollingUpdate")
        if st["type"] == "RollingUpdate":
            ru = st.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
        spec.setdefault("progressDeadlineSeconds", 600)
    if kind == "DaemonSet":
        st = spec.setdefault("updateStrategy", {})
        st.setdefault("type", "RollingUpdate")
        if st["type"] == "RollingUpdate":
            ru = st.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", 1)
            ru.setdefault("maxSurge", 0)
    if kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        st = spec.setdefault("updateStrategy", {})
        st.setdefault("type", "RollingUpdate")
        if st["type"] == "RollingUpdate":
            st.setdefault("rollingUpdate", {}).setdefault("partition", 0)


def _fmt_map(m):
    return "map[string]string{%s}" % ", ".join('"%s":"%s"' % kv for kv in sorted(m.items()))


def _is_mirror(obj):
    return "kubernetes.io/config.mirror" in ((obj.get("metadata") or {}).get("annotations") or {})


def on_update(ops, new, cur):
    validate_meta(ops, new)
    kind = ops.res.kind
    if kind == "Secret":
        sd = new.pop("stringData", None)
        if sd:
            data = new.setdefault("data", {})
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
        if cur.get("immutable") and (new.get("data") != cur.get("data")):
            raise invalid(ops.res, ops.name, "data: Forbidden: field is immutable when `immutable` is set")
    if kind == "Service":
        spec, cspec = new.setdefault("spec", {}), cur.get("spec") or {}
        if cspec.get("clusterIP") and not spec.get("clusterIP"):
            spec["clusterIP"] = cspec["clusterIP"]
            spec["clusterIPs"] = cspec.get("clusterIPs") or [cspec["clusterIP"]]
        elif cspec.get("clusterIP") and spec.get("clusterIP") != cspec.get("clusterIP"):
            raise invalid(ops.res, ops.name, "spec.clusterIPs[0]: Invalid value: []string{\"%s\"}: may not change "
                          "once set" % spec.get("clusterIP"))
        # keep allocated node ports
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in cspec.get("ports") or []}
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            if not p.get("nodePort") and old_ports.get((p.get("port"), p["protocol"])):
                p["nodePort"] = old_ports[(p.get("port"), p["protocol"])]
        default_service(ops, new, update=True)
    if kind == "Pod" and ops.sub != "status":
        spec, cspec = new.get("spec") or {}, cur.get("spec") or {}
        for k in ("containers", "nodeName", "volumes", "initContainers"):
            if k == "nodeName" and not cspec.get(k):
                continue
            if spec.get(k) != cspec.get(k) and k != "containers":
                raise invalid(ops.res, ops.name, "spec: Forbidden: pod updates may not change fields other than "
                              "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                              "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing "
                              "tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                              "previously negative)")
    if kind in ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet") and ops.sub != "status":
        default_workload(kind, new.setdefault("spec", {}))
        if (new.get("spec") or {}).get("selector") != (cur.get("spec") or {}).get("selector") and kind != "ReplicaSet":
            raise invalid(ops.res, ops.name, "spec.selector: Invalid value: %s: field is immutable"
                          % json_short((new.get("spec") or {}).get("selector")))
    if kind == "Namespace" and ops.name:
        new.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = ops.name
        new.setdefault("spec", cur.get("spec") or {"finalizers": ["kubernetes"]})
    if kind == "CertificateSigningRequest" and ops.sub == "":
        new["spec"] = cur.get("spec")


def json_short(o):
    import json
    return json.dumps(o, separators=(",", ":"))


def default_service(ops, obj, update=False):
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv6" if ops.api.service_net.version == 6 else "IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        p.setdefault("protocol", "TCP")
        if spec["type"] != "ExternalName":
            p.setdefault("targetPort", p.get("port"))
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    with ops.api.alloc_lock:
        if spec["type"] != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
            spec["clusterIP"] = allocate_ip(ops)
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif spec.get("clusterIP") and not update:
            ip = spec["clusterIP"]
            if ip != "None":
                try:
                    ok = ipaddress.ip_address(ip) in ops.api.service_net
                except ValueError:
                    ok = False
                if not ok:
                    raise invalid(ops.res, obj["metadata"].get("name", ""), 'spec.clusterIPs: Invalid value: '
                                  '[]string{"%s"}: failed to allocate IP %s: the provided IP (%s) is not in the '
                                  'valid range. The range of valid IPs is %s' % (ip, ip, ip, ops.api.service_net))
                if ip in used_ips(ops, exclude=obj["metadata"].get("name")):
                    raise invalid(ops.res, obj["metadata"].get("name", ""), 'spec.clusterIPs: Invalid value: '
                                  '[]string{"%s"}: failed to allocate IP %s: provided IP is already allocated'
                                  % (ip, ip))
            spec.setdefault("clusterIPs", [ip])
        if spec["type"] in ("NodePort", "LoadBalancer"):
            used = used_node_ports(ops)
            lo, hi = ops.api.node_ports
            for p in spec.get("ports") or []:
                if not p.get("nodePort"):
                    for cand in range(lo, hi + 1):
                        if cand not in used:
                            p["nodePort"] = cand
                            used.add(cand)
                            break


def used_ips(ops, exclude=None):
    objs, _ = ops.store.list(ops.api.res("", "services"))
    out = set()
    for o in objs:
        if exclude and o["metadata"]["name"] == exclude and o["metadata"].get("namespace") == ops.ns:
            continue
        for ip in (o.get("spec") or {}).get("clusterIPs") or [(o.get("spec") or {}).get("clusterIP")]:
            if ip:
                out.add(ip)
    return out


def used_node_ports(ops):
    objs, _ = ops.store.list(ops.api.res("", "services"))
    return {p.get("nodePort") for o in objs for p in (o.get("spec") or {}).get("ports") or [] if p.get("nodePort")}


def allocate_ip(ops):
    """Pick a free service IP.  Like kube-apiserver since 1.26, dynamic allocations prefer the upper
    part of the range so that the low addresses stay free for static ones (kubeadm asks for the
    10th address for kube-dns; the first one is kubernetes.default's)."""
    used = used_ips(ops)
    net = ops.api.service_net
    size = net.num_addresses
    offset = min(max(size // 16, 16), 256) if size > 32 else 2
    base = int(net.network_address)
    for i in list(range(offset, min(size - 1, offset + 65536))) + list(range(1, offset)):
        s = str(ipaddress.ip_address(base + i))
        if s not in used:
            return s
    raise APIError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full")


# --- after writes ---------------------------------------------------------------------------------
def after_write(ops, obj):
    kind = ops.res.kind
    if kind == "CustomResourceDefinition":
        ops.api.refresh_crds()
    if ops.res.group == "rbac.authorization.k8s.io":
        ops.api.authorizer.rbac.invalidate()


DEPENDENT_KINDS = [("", "pods"), ("apps", "replicasets"), ("apps", "controllerrevisions"), ("", "endpoints"),
                   ("discovery.k8s.io", "endpointslices"), ("coordination.k8s.io", "leases"), ("batch", "jobs")]


def after_delete(ops, obj, propagation):
    kind = ops.res.kind
    api = ops.api
    if kind == "CustomResourceDefinition":
        # the CRD's custom resources go with it
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        if spec.get("group") and names.get("plural"):
            try:
                for kv in api.store.etcd.range_prefix("/registry/%s/%s/" % (spec["group"], names["plural"]))[0]:
                    api.store.etcd.delete(kv.key)
            except Exception:
                pass
        api.refresh_crds()
    if ops.res.group == "rbac.authorization.k8s.io":
        api.authorizer.rbac.invalidate()
    if kind == "Namespace":
        delete_namespace_contents(api, obj["metadata"]["name"])
        return
    uid = obj["metadata"].get("uid")
    if not uid:
        return
    t = threading.Thread(target=collect_dependents, args=(api, obj, propagation), daemon=True)
    t.start()
    if propagation == "Foreground":
        t.join(10)


def collect_dependents(api, owner, propagation):
    """The garbage collector, for the dependents that matter: objects in the owner's namespace (or,
    for cluster-scoped owners such as Nodes, any namespace) whose ownerReferences name its uid."""
    uid = owner["metadata"]["uid"]
    ns = owner["metadata"].get("namespace")
    for group, plural in DEPENDENT_KINDS:
        res = api.registry.lookup(group, "v1", plural)
        if res is None:
            continue
        try:
            objs, _ = api.store.list(res, ns)
        except Exception:
            continue
        for o in objs:
            refs = o["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == uid for r in refs):
                continue
            name, ons = o["metadata"]["name"], o["metadata"].get("namespace", "")
            try:
                if propagation == "Orphan":
                    def strip(x):
                        x["metadata"]["ownerReferences"] = [r for r in x["metadata"].get("ownerReferences") or []
                                                            if r.get("uid") != uid]
                        return x
                    api.store.guaranteed_update(res, ons, name, strip)
                    continue
                if len(refs) > 1:
                    def strip(x):
                        x["metadata"]["ownerReferences"] = [r for r in x["metadata"].get("ownerReferences") or []
                                                            if r.get("uid") != uid]
                        return x
                    api.store.guaranteed_update(res, ons, name, strip)
                    continue
                cur = api.store.get(res, ons, name)
                api.store.delete(res, ons, name, cur["metadata"]["resourceVersion"])
                collect_dependents(api, cur, propagation)
            except Exception:
                continue


def delete_namespace_contents(api, ns):
    """The namespace controller, done synchronously: everything namespaced goes with the namespace."""
    for res in api.registry.all():
        if not res.namespaced or res.virtual:
            continue
        try:
            kvs, _ = api.store.etcd.range_prefix(api.store.prefix(res, ns))
            for kv in kvs:
                api.store.etcd.delete(kv.key)
        except Exception:
            continue
