"""What kube-apiserver's post-start hooks create: default namespaces, the kubernetes Service and
Endpoints, the RBAC bootstrap policy (the part that matters here), priority classes and the
extension-apiserver-authentication ConfigMap.  Idempotent: existing objects are left alone."""

import copy
import time

from .store import APIError, now

LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
ANN = {"rbac.authorization.kubernetes.io/autoupdate": "true"}

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
ALL_READ_GROUPS = ["", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "discovery.k8s.io",
                   "coordination.k8s.io", "storage.k8s.io"]
NS_RESOURCES = ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps", "serviceaccounts",
                "persistentvolumeclaims", "replicationcontrollers", "events", "limitranges", "resourcequotas",
                "deployments", "deployments/scale", "daemonsets", "replicasets", "replicasets/scale",
                "statefulsets", "statefulsets/scale", "jobs", "cronjobs", "horizontalpodautoscalers",
                "poddisruptionbudgets", "ingresses", "networkpolicies", "endpointslices", "leases",
                "controllerrevisions"]


def _cr(name, rules, agg_label=None):
    meta = {"name": name, "labels": dict(LABELS), "annotations": dict(ANN)}
    if agg_label:
        meta["labels"].update(agg_label)
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules}


def _crb(name, role, subjects):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(LABELS), "annotations": dict(ANN)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects}


def _group(name):
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def _user(name):
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def cluster_roles():
    health = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    return [
        _cr("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                              {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        _cr("system:discovery", [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                                      "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                                  "verbs": ["get"]}]),
        _cr("system:public-info-viewer", [{"nonResourceURLs": health, "verbs": ["get"]}]),
        _cr("system:basic-user", [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                                   "selfsubjectrulesreviews"], "verbs": ["create"]}]),
        _cr("system:monitoring", [{"nonResourceURLs": ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics",
                                                       "/metrics/slis", "/readyz", "/readyz/*"], "verbs": ["get"]}]),
        _cr("system:node-bootstrapper", [{"apiGroups": ["certificates.k8s.io"],
                                          "resources": ["certificatesigningrequests"],
                                          "verbs": ["create", "get", "list", "watch"]}]),
        _cr("system:certificates.k8s.io:certificatesigningrequests:nodeclient", [
            {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/nodeclient"],
             "verbs": ["create"]}]),
        _cr("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [
            {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/selfnodeclient"],
             "verbs": ["create"]}]),
        _cr("system:node-proxier", [
            {"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": READ},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]),
        _cr("system:node", [
            {"apiGroups": [""], "resources": ["nodes", "nodes/status"], "verbs": READ + WRITE},
            {"apiGroups": [""], "resources": ["pods", "pods/status", "services", "endpoints", "configmaps"],
             "verbs": READ + ["create", "delete", "patch", "update"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": READ + WRITE}]),
        # Deviation: the stand-in's controller-manager and scheduler authenticate with their own
        # certificates (no per-controller service accounts), so their roles are broad.
        _cr("system:kube-controller-manager", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        _cr("system:kube-scheduler", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        _cr("system:kube-dns", [{"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["list", "watch"]}]),
        _cr("system:auth-delegator", [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
            {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}]),
        _cr("system:service-account-issuer-discovery", [
            {"nonResourceURLs": ["/.well-known/openid-configuration", "/.well-known/openid-configuration/",
                                 "/openid/v1/jwks", "/openid/v1/jwks/"], "verbs": ["get"]}]),
        _cr("view", [{"apiGroups": ALL_READ_GROUPS, "resources": NS_RESOURCES + ["namespaces"], "verbs": READ}]),
        _cr("edit", [{"apiGroups": ALL_READ_GROUPS, "resources": NS_RESOURCES + ["secrets"], "verbs": READ + WRITE},
                     {"apiGroups": [""], "resources": ["namespaces"], "verbs": READ}]),
        _cr("admin", [{"apiGroups": ALL_READ_GROUPS, "resources": NS_RESOURCES + ["secrets"], "verbs": READ + WRITE},
                      {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                       "verbs": READ + WRITE},
                      {"apiGroups": [""], "resources": ["namespaces"], "verbs": READ}]),
    ]


def cluster_role_bindings():
    return [
        _crb("cluster-admin", "cluster-admin", [_group("system:masters")]),
        _crb("system:discovery", "system:discovery", [_group("system:authenticated")]),
        _crb("system:basic-user", "system:basic-user", [_group("system:authenticated")]),
        _crb("system:public-info-viewer", "system:public-info-viewer",
             [_group("system:authenticated"), _group("system:unauthenticated")]),
        _crb("system:monitoring", "system:monitoring", [_group("system:monitoring")]),
        _crb("system:kube-controller-manager", "system:kube-controller-manager",
             [_user("system:kube-controller-manager")]),
        _crb("system:kube-scheduler", "system:kube-scheduler", [_user("system:kube-scheduler")]),
        _crb("system:node-proxier", "system:node-proxier", [_user("system:kube-proxy")]),
        _crb("system:kube-dns", "system:kube-dns", [{"kind": "ServiceAccount", "name": "kube-dns",
                                                      "namespace": "kube-system"}]),
        _crb("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
             [_group("system:serviceaccounts")]),
    ]


def namespaced_rbac():
    def role(ns, name, rules):
        return ("roles", ns, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                              "metadata": {"name": name, "namespace": ns, "labels": dict(LABELS),
                                           "annotations": dict(ANN)}, "rules": rules})

    def binding(ns, name, role_name, subjects):
        return ("rolebindings", ns, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                     "metadata": {"name": name, "namespace": ns, "labels": dict(LABELS),
                                                  "annotations": dict(ANN)},
                                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                 "name": role_name}, "subjects": subjects})
    return [
        role("kube-system", "extension-apiserver-authentication-reader", [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["extension-apiserver-authentication"],
             "verbs": READ}]),
        role("kube-system", "system::leader-locking-kube-controller-manager", [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]}]),
        role("kube-system", "system::leader-locking-kube-scheduler", [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]}]),
        binding("kube-system", "system::extension-apiserver-authentication-reader",
                "extension-apiserver-authentication-reader",
                [_user("system:kube-controller-manager"), _user("system:kube-scheduler")]),
    ]


def create_if_missing(api, group, plural, ns, obj):
    res = api.registry.lookup(group, "v1", plural)
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("creationTimestamp", now())
    import uuid
    meta.setdefault("uid", str(uuid.uuid4()))
    if res.namespaced:
        meta["namespace"] = ns
    return api.store.etcd.create(api.store.key(res, ns, meta["name"]), api.store.encode(obj))


def ensure_defaults(api):
    svc_ip = str(next(api.service_net.hosts()))
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        create_if_missing(api, "", "namespaces", "", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    fam = "IPv6" if api.service_net.version == 6 else "IPv4"
    create_if_missing(api, "", "services", "default", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api.port}],
                 "clusterIP": svc_ip, "clusterIPs": [svc_ip], "type": "ClusterIP", "sessionAffinity": "None",
                 "ipFamilies": [fam], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {}}})
    reconcile_endpoints(api)
    for cr in cluster_roles():
        create_if_missing(api, "rbac.authorization.k8s.io", "clusterroles", "", cr)
    for crb in cluster_role_bindings():
        create_if_missing(api, "rbac.authorization.k8s.io", "clusterrolebindings", "", crb)
    for plural, ns, obj in namespaced_rbac():
        create_if_missing(api, "rbac.authorization.k8s.io", plural, ns, obj)
    for name, value, desc in (("system-node-critical", 2000001000, "Used for system critical pods that must not be "
                               "moved from their current node."),
                              ("system-cluster-critical", 2000000000, "Used for system critical pods that must run "
                               "in the cluster, but can be moved to another node if necessary.")):
        create_if_missing(api, "scheduling.k8s.io", "priorityclasses", "", {
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, "description": desc, "preemptionPolicy": "PreemptLowerPriority"})
    data = {}
    for key, flag in (("client-ca-file", "client-ca-file"), ("requestheader-client-ca-file",
                                                              "requestheader-client-ca-file")):
        path = api.opts.get(flag)
        if path:
            try:
                with open(path) as f:
                    data[key] = f.read()
            except OSError:
                pass
    for key, flag in (("requestheader-allowed-names", "requestheader-allowed-names"),
                      ("requestheader-extra-headers-prefix", "requestheader-extra-headers-prefix"),
                      ("requestheader-group-headers", "requestheader-group-headers"),
                      ("requestheader-username-headers", "requestheader-username-headers")):
        if api.opts.get(flag):
            import json
            data[key] = json.dumps(api.opts[flag].split(","))
    create_if_missing(api, "", "configmaps", "kube-system", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extension-apiserver-authentication"},
        "data": data})


def remove_own_endpoint(api):
    """On shutdown, take this server's address out of default/kubernetes (as the lease reconciler does)."""
    res = api.registry.lookup("", "v1", "endpoints")
    for _ in range(3):
        try:
            cur = api.store.get(res, "default", "kubernetes")
            subsets = cur.get("subsets") or []
            if not subsets:
                return
            addrs = [a for a in subsets[0].get("addresses") or [] if a.get("ip") != api.advertise]
            if len(addrs) == len(subsets[0].get("addresses") or []) or not addrs:
                return  # not listed, or the last one: leave it (upstream keeps the last address too)
            subsets[0]["addresses"] = addrs
            api.store.update(res, "default", "kubernetes", cur, cur["metadata"]["resourceVersion"])
            return
        except Exception:
            time.sleep(0.1)


def reconcile_endpoints(api):
    """default/kubernetes Endpoints list every API server's advertise address (lease-less variant)."""
    res = api.registry.lookup("", "v1", "endpoints")
    addr = {"ip": api.advertise}
    port = {"name": "https", "port": api.port, "protocol": "TCP"}
    for _ in range(5):
        try:
            cur = api.store.get(res, "default", "kubernetes")
        except APIError:
            create_if_missing(api, "", "endpoints", "default", {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [addr], "ports": [port]}]})
            continue
        subsets = cur.get("subsets") or [{"addresses": [], "ports": [port]}]
        if any(a.get("ip") == api.advertise for a in subsets[0].get("addresses") or []):
            return
        subsets[0].setdefault("addresses", []).append(addr)
        subsets[0]["addresses"].sort(key=lambda a: a.get("ip"))
        cur["subsets"] = subsets
        try:
            api.store.update(res, "default", "kubernetes", cur, cur["metadata"]["resourceVersion"])
            return
        except APIError:
            time.sleep(0.1)
