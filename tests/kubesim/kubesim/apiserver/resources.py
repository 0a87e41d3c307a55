"""The API resources the stand-in serves (built-in kinds plus served CustomResourceDefinitions)."""

import threading

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]


class Resource:
    def __init__(self, group, version, kind, plural, namespaced=True, short=(), categories=(),
                 subresources=("status",), singular=None, verbs=None, storage=None, virtual=False):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.short = list(short)
        self.categories = list(categories)
        self.subresources = list(subresources)
        self.singular = singular or kind.lower()
        self.verbs = verbs or list(ALL_VERBS)
        self.virtual = virtual  # create-only review kinds, never stored
        # etcd key: /registry/<resource>/... for built-ins, /registry/<group>/<resource>/... for CRs
        self.storage = storage or plural
        self.crd = None  # CRD object when served from a CustomResourceDefinition

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_version(self):
        return self.api_version

    def __repr__(self):
        return "Resource(%s)" % self.api_version + "/" + self.plural


def _core():
    R = Resource
    return [
        R("", "v1", "Namespace", "namespaces", False, ["ns"], subresources=("status", "finalize")),
        R("", "v1", "Node", "nodes", False, ["no"]),
        R("", "v1", "Pod", "pods", True, ["po"], ["all"], subresources=("status", "binding", "eviction")),
        R("", "v1", "Service", "services", True, ["svc"], ["all"]),
        R("", "v1", "Endpoints", "endpoints", True, ["ep"], subresources=(), singular="endpoints"),
        R("", "v1", "ConfigMap", "configmaps", True, ["cm"], subresources=()),
        R("", "v1", "Secret", "secrets", True, subresources=()),
        R("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"], subresources=("token",)),
        R("", "v1", "Event", "events", True, ["ev"], subresources=()),
        R("", "v1", "PersistentVolume", "persistentvolumes", False, ["pv"]),
        R("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"]),
        R("", "v1", "LimitRange", "limitranges", True, ["limits"], subresources=()),
        R("", "v1", "ResourceQuota", "resourcequotas", True, ["quota"]),
        R("", "v1", "ReplicationController", "replicationcontrollers", True, ["rc"], ["all"]),
        R("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"], ["all"]),
        R("apps", "v1", "Deployment", "deployments", True, ["deploy"], ["all"], subresources=("status", "scale")),
        R("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], ["all"], subresources=("status", "scale")),
        R("apps", "v1", "StatefulSet", "statefulsets", True, ["sts"], ["all"], subresources=("status", "scale")),
        R("apps", "v1", "ControllerRevision", "controllerrevisions", True, subresources=()),
        R("batch", "v1", "Job", "jobs", True, [], ["all"]),
        R("batch", "v1", "CronJob", "cronjobs", True, ["cj"], ["all"]),
        R("rbac.authorization.k8s.io", "v1", "Role", "roles", True, subresources=()),
        R("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, subresources=()),
        R("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, subresources=()),
        R("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False, subresources=()),
        R("coordination.k8s.io", "v1", "Lease", "leases", True, subresources=()),
        R("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False, ["csr"],
          subresources=("status", "approval")),
        R("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"]),
        R("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ["netpol"], subresources=()),
        R("networking.k8s.io", "v1", "Ingress", "ingresses", True, ["ing"]),
        R("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False, subresources=()),
        R("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, subresources=()),
        R("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ["sc"], subresources=()),
        R("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ["pc"], subresources=()),
        R("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False, subresources=()),
        R("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
          ["crd", "crds"]),
        R("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
          subresources=(), verbs=["create"], virtual=True),
        R("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False,
          subresources=(), verbs=["create"], virtual=True),
        R("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False,
          subresources=(), verbs=["create"], virtual=True),
    ]


# Kinds whose spec changes bump metadata.generation.
GENERATION_KINDS = {"Deployment", "DaemonSet", "ReplicaSet", "StatefulSet", "Job", "CronJob",
                    "CustomResourceDefinition", "PodDisruptionBudget", "Pod", "Ingress", "NetworkPolicy",
                    "ReplicationController", "PriorityClass"}


class Registry:
    """All served resources; CRD-defined ones are added and removed as CRDs come and go."""

    def __init__(self):
        self.lock = threading.Lock()
        self.builtin = _core()
        self.custom = []

    def all(self):
        with self.lock:
            return list(self.builtin) + list(self.custom)

    def groups(self):
        """[(group, [versions])] in discovery order: core first, then built-in groups, then CRDs."""
        out = []
        seen = {}
        for r in self.all():
            if r.group not in seen:
                seen[r.group] = []
                out.append((r.group, seen[r.group]))
            if r.version not in seen[r.group]:
                seen[r.group].append(r.version)
        return out

    def lookup(self, group, version, plural):
        for r in self.all():
            if r.group == group and r.version == version and r.plural == plural:
                return r
        return None

    def by_kind(self, group, kind):
        for r in self.all():
            if r.group == group and r.kind == kind:
                return r
        return None

    def set_custom(self, crds):
        """Rebuild the CRD-defined resources from the list of established CRD objects."""
        out = []
        for crd in crds:
            spec = crd.get("spec") or {}
            names = spec.get("names") or {}
            group = spec.get("group")
            if not group or not names.get("plural") or crd.get("metadata", {}).get("deletionTimestamp"):
                continue
            for v in spec.get("versions") or []:
                if not v.get("served", True):
                    continue
                subs = []
                if (v.get("subresources") or {}).get("status") is not None:
                    subs.append("status")
                if (v.get("subresources") or {}).get("scale") is not None:
                    subs.append("scale")
                r = Resource(group, v["name"], names.get("kind"), names["plural"],
                             spec.get("scope", "Namespaced") == "Namespaced", names.get("shortNames") or [],
                             names.get("categories") or [], subresources=subs,
                             singular=names.get("singular") or names.get("kind", "").lower(),
                             storage="%s/%s" % (group, names["plural"]))
                r.crd = crd
                r.crd_version = v
                out.append(r)
        with self.lock:
            self.custom = out
