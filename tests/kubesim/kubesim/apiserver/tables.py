"""Server-side Tables (meta.k8s.io/v1 Table) for ``kubectl get``; columns as kube-apiserver's printers."""

import datetime


def parse_time(ts):
    try:
        return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        return "%dh%dm" % (h, m % 60) if m % 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        return "%dd%dh" % (h // 24, h % 24) if h % 24 else "%dd" % (h // 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        y = h // (24 * 365)
        d = (h % (24 * 365)) // 24
        return "%dy%dd" % (y, d) if d else "%dy" % y
    return "%dy" % (h // (24 * 365))


def age(obj):
    t = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    if t is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def _since(ts, o):
    t = parse_time(ts) if ts else None
    if t is None:
        return age(o)
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def _col(name, typ="string", fmt="", prio=0, desc=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name, "priority": prio}


NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = _col("Age", desc="CreationTimestamp is a timestamp representing the server time when this object was created.")


def _join(items, none="<none>"):
    items = [i for i in items if i]
    return ",".join(items) if items else none


def _selector(sel):
    if not sel:
        return "<none>"
    parts = ["%s=%s" % kv for kv in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        vals = ",".join(e.get("values") or [])
        if op == "In":
            parts.append("%s in (%s)" % (e.get("key"), vals))
        elif op == "NotIn":
            parts.append("%s notin (%s)" % (e.get("key"), vals))
        elif op == "Exists":
            parts.append(e.get("key"))
        elif op == "DoesNotExist":
            parts.append("!" + e.get("key"))
    return ",".join(parts) or "<none>"


def _containers(obj):
    cs = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    return _join([c.get("name") for c in cs]), _join([c.get("image") for c in cs])


def node_row(o):
    # As printNode (pkg/printers/internalversion): "Ready" for Ready=True, "Not"+type for any other
    # status (False and Unknown alike), "Unknown" only without a Ready condition; then
    # "SchedulingDisabled" for a cordoned node, comma-joined.
    st = o.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    status = []
    if "Ready" in conds:
        status.append("Ready" if conds["Ready"] == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if (o.get("spec") or {}).get("unschedulable"):
        status.append("SchedulingDisabled")
    labels = (o.get("metadata") or {}).get("labels") or {}
    roles = sorted({k[len("node-role.kubernetes.io/"):] for k in labels if k.startswith("node-role.kubernetes.io/")
                    and k[len("node-role.kubernetes.io/"):]}
                   | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    addrs = st.get("addresses") or []
    ip = lambda t: next((a.get("address") for a in addrs if a.get("type") == t), "<none>")
    info = st.get("nodeInfo") or {}
    return [o["metadata"]["name"], ",".join(status), _join(roles), age(o), info.get("kubeletVersion", ""),
            ip("InternalIP"), ip("ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]


NODE_COLS = [NAME, _col("Status"), _col("Roles"), AGE, _col("Version"),
             _col("Internal-IP", prio=1), _col("External-IP", prio=1), _col("OS-Image", prio=1),
             _col("Kernel-Version", prio=1), _col("Container-Runtime", prio=1)]


def pod_row(o):
    spec = o.get("spec") or {}
    st = o.get("status") or {}
    total = len(spec.get("containers") or [])
    cstat = st.get("containerStatuses") or []
    ready = sum(1 for c in cstat if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in cstat)
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for c in cstat:
        s = c.get("state") or {}
        if "waiting" in s and s["waiting"].get("reason"):
            reason = s["waiting"]["reason"]
        elif "terminated" in s and s["terminated"].get("reason") and st.get("phase") != "Succeeded":
            reason = s["terminated"]["reason"]
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    nominated = st.get("nominatedNodeName") or "<none>"
    gates = spec.get("readinessGates") or []
    return [o["metadata"]["name"], "%d/%d" % (ready, total), reason, str(restarts), age(o),
            st.get("podIP") or "<none>", spec.get("nodeName") or "<none>", nominated,
            "<none>" if not gates else "%d/%d" % (0, len(gates))]


POD_COLS = [NAME, _col("Ready"), _col("Status"), _col("Restarts", "string"), AGE,
            _col("IP", prio=1), _col("Node", prio=1), _col("Nominated Node", prio=1),
            _col("Readiness Gates", prio=1)]


def ds_row(o):
    st = o.get("status") or {}
    sel = (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    c, i = _containers(o)
    return [o["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            _join(["%s=%s" % kv for kv in sorted(sel.items())]), age(o), c, i,
            _selector((o.get("spec") or {}).get("selector"))]


DS_COLS = [NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
           _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Node Selector"), AGE,
           _col("Containers", prio=1), _col("Images", prio=1), _col("Selector", prio=1)]


def deploy_row(o):
    st = o.get("status") or {}
    want = (o.get("spec") or {}).get("replicas", 1)
    c, i = _containers(o)
    return [o["metadata"]["name"], "%d/%d" % (st.get("readyReplicas", 0), want), st.get("updatedReplicas", 0),
            st.get("availableReplicas", 0), age(o), c, i, _selector((o.get("spec") or {}).get("selector"))]


DEPLOY_COLS = [NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE,
               _col("Containers", prio=1), _col("Images", prio=1), _col("Selector", prio=1)]


def rs_row(o):
    st = o.get("status") or {}
    c, i = _containers(o)
    return [o["metadata"]["name"], (o.get("spec") or {}).get("replicas", 1), st.get("replicas", 0),
            st.get("readyReplicas", 0), age(o), c, i, _selector((o.get("spec") or {}).get("selector"))]


RS_COLS = [NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), AGE,
           _col("Containers", prio=1), _col("Images", prio=1), _col("Selector", prio=1)]


def svc_row(o):
    spec = o.get("spec") or {}
    ports = []
    for p in spec.get("ports") or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += ":%s" % p["nodePort"]
        ports.append("%s/%s" % (s, p.get("protocol", "TCP")))
    ext = spec.get("externalIPs") or []
    lb = [i.get("ip") or i.get("hostname") for i in ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
    if spec.get("type") == "LoadBalancer" and not lb and not ext:
        external = "<pending>"
    elif spec.get("type") == "ExternalName":
        external = spec.get("externalName", "<none>")
    else:
        external = _join(lb + ext)
    sel = spec.get("selector") or {}
    return [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", external,
            _join(ports), age(o), _join(["%s=%s" % kv for kv in sorted(sel.items())])]


SVC_COLS = [NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
            _col("Selector", prio=1)]


def _simple(cols, fn):
    return cols, fn


TABLES = {
    ("", "nodes"): (NODE_COLS, node_row),
    ("", "pods"): (POD_COLS, pod_row),
    ("apps", "daemonsets"): (DS_COLS, ds_row),
    ("apps", "deployments"): (DEPLOY_COLS, deploy_row),
    ("apps", "replicasets"): (RS_COLS, rs_row),
    ("", "services"): (SVC_COLS, svc_row),
    ("", "configmaps"): ([NAME, _col("Data", "integer"), AGE],
                         lambda o: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o)]),
    ("", "secrets"): ([NAME, _col("Type"), _col("Data", "integer"), AGE],
                      lambda o: [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}), age(o)]),
    ("", "namespaces"): ([NAME, _col("Status"), AGE],
                         lambda o: [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), age(o)]),
    ("", "serviceaccounts"): ([NAME, _col("Secrets", "integer"), AGE],
                              lambda o: [o["metadata"]["name"], len(o.get("secrets") or []), age(o)]),
    ("", "endpoints"): ([NAME, _col("Endpoints"), AGE],
                        lambda o: [o["metadata"]["name"], _join(["%s:%s" % (a.get("ip"), p.get("port"))
                                                                 for s in o.get("subsets") or []
                                                                 for a in s.get("addresses") or []
                                                                 for p in s.get("ports") or [{}]]), age(o)]),
    ("", "events"): ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
                     lambda o: [_since(o.get("lastTimestamp") or (o.get("eventTime") or "")[:19] + "Z"
                                       if (o.get("lastTimestamp") or o.get("eventTime")) else None, o),
                                o.get("type", ""), o.get("reason", ""),
                                "%s/%s" % ((o.get("involvedObject") or {}).get("kind", "").lower(),
                                           (o.get("involvedObject") or {}).get("name", "")), o.get("message", "")]),
    ("coordination.k8s.io", "leases"): ([NAME, _col("Holder"), AGE],
                                        lambda o: [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity", ""), age(o)]),
    ("certificates.k8s.io", "certificatesigningrequests"): (
        [NAME, AGE, _col("SignerName"), _col("Requestor"), _col("RequestedDuration"), _col("Condition")],
        lambda o: [o["metadata"]["name"], age(o), (o.get("spec") or {}).get("signerName", ""),
                   (o.get("spec") or {}).get("username", ""), "<none>",
                   _csr_condition(o)]),
    ("rbac.authorization.k8s.io", "clusterroles"): ([NAME, _col("Created At")],
                                                    lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]),
    ("rbac.authorization.k8s.io", "roles"): ([NAME, _col("Created At")],
                                             lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        [NAME, _col("Role"), AGE], lambda o: [o["metadata"]["name"], "%s/%s" % ((o.get("roleRef") or {}).get("kind"),
                                                                            (o.get("roleRef") or {}).get("name")), age(o)]),
    ("rbac.authorization.k8s.io", "rolebindings"): (
        [NAME, _col("Role"), AGE], lambda o: [o["metadata"]["name"], "%s/%s" % ((o.get("roleRef") or {}).get("kind"),
                                                                            (o.get("roleRef") or {}).get("name")), age(o)]),
    ("scheduling.k8s.io", "priorityclasses"): (
        [NAME, _col("Value", "integer"), _col("Global-Default", "boolean"), AGE, _col("PreemptionPolicy")],
        lambda o: [o["metadata"]["name"], o.get("value", 0), bool(o.get("globalDefault")), age(o),
                   o.get("preemptionPolicy", "PreemptLowerPriority")]),
    ("apps", "statefulsets"): (
        [NAME, _col("Ready"), AGE, _col("Containers", prio=1), _col("Images", prio=1)],
        lambda o: [o["metadata"]["name"], "%d/%d" % ((o.get("status") or {}).get("readyReplicas", 0),
                                                     (o.get("spec") or {}).get("replicas", 1)), age(o)]
        + list(_containers(o))),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ([NAME, _col("Created At")],
                                                            lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]),
}


def _csr_condition(o):
    conds = [c.get("type") for c in (o.get("status") or {}).get("conditions") or []]
    if (o.get("status") or {}).get("certificate") and "Approved" in conds:
        conds.append("Issued")
    return ",".join(conds) or "Pending"


def _crd_columns(res):
    cols = (getattr(res, "crd_version", None) or {}).get("additionalPrinterColumns") or []
    return cols


def _jsonpath_simple(obj, path):
    cur = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def table(res, objs, list_rv, include="Metadata", cont=None):
    cols, fn = TABLES.get((res.group, res.plural), (None, None))
    extra = []
    if cols is None:
        extra = _crd_columns(res)
        cols = [NAME] + [_col(c["name"], c.get("type", "string"), c.get("format", ""), c.get("priority", 0),
                              c.get("description", "")) for c in extra]
        if not any(c["name"] == "Age" for c in extra):
            cols.append(AGE)

        def fn(o):
            row = [o["metadata"]["name"]]
            for c in extra:
                v = _jsonpath_simple(o, c.get("jsonPath", ""))
                if c.get("type") == "date" and v:
                    t = parse_time(v)
                    v = human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) if t else v
                row.append(v if v is not None else "<none>")
            if not any(c["name"] == "Age" for c in extra):
                row.append(age(o))
            return row
    rows = []
    for o in objs:
        row = {"cells": fn(o)}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o.get("metadata") or {}}
        rows.append(row)
    meta = {"resourceVersion": str(list_rv)}
    if cont:
        meta["continue"] = cont
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": cols, "rows": rows}
