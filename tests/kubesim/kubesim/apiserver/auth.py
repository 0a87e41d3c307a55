"""Authentication (client certificates, bootstrap tokens, anonymous) and authorization
(system:masters, Node authorizer, RBAC over the Roles/Bindings stored in the API)."""

import base64
import datetime
import re
import threading
import time

BOOTSTRAP_TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")


class User:
    def __init__(self, name, groups=(), extra=None, uid=""):
        self.name = name
        self.groups = list(groups)
        self.extra = extra or {}
        self.uid = uid

    def info(self):
        d = {"username": self.name, "groups": self.groups}
        if self.uid:
            d["uid"] = self.uid
        if self.extra:
            d["extra"] = self.extra
        return d


ANONYMOUS = User("system:anonymous", ["system:unauthenticated"])


class Unauthorized(Exception):
    pass


def user_from_peercert(cert):
    """ssl.getpeercert() dict -> User (CN = user, O = groups)."""
    cn, orgs = None, []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.append(v)
    if not cn:
        return None
    return User(cn, orgs + ["system:authenticated"])


def _b64s(data, key):
    v = (data or {}).get(key)
    if v is None:
        return None
    try:
        return base64.b64decode(v).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def parse_rfc3339(text):
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(text)


def token_expired(data):
    exp = _b64s(data, "expiration")
    if not exp:
        return False
    try:
        return parse_rfc3339(exp) < datetime.datetime.now(datetime.timezone.utc)
    except ValueError:
        return True


def bootstrap_user(store, registry, token):
    """Authenticate a bootstrap token as kube-apiserver's bootstrap authenticator does.

    Returns a User, or None (-> 401)."""
    m = BOOTSTRAP_TOKEN_RE.match(token)
    if not m:
        return None
    tid, secret = m.groups()
    res = registry.lookup("", "v1", "secrets")
    try:
        sec = store.get(res, "kube-system", "bootstrap-token-" + tid)
    except Exception:
        return None
    if sec.get("type") != "bootstrap.kubernetes.io/token" or (sec.get("metadata") or {}).get("deletionTimestamp"):
        return None
    data = sec.get("data") or {}
    if _b64s(data, "token-id") != tid or _b64s(data, "token-secret") != secret:
        return None
    if token_expired(data):
        return None
    if _b64s(data, "usage-bootstrap-authentication") != "true":
        return None
    groups = ["system:bootstrappers"]
    extra = _b64s(data, "auth-extra-groups")
    if extra:
        for g in extra.split(","):
            g = g.strip()
            if g and g not in groups:
                groups.append(g)
    groups.append("system:authenticated")
    return User("system:bootstrap:" + tid, groups)


# --- authorization -------------------------------------------------------------------------------
class Attributes:
    def __init__(self, verb, user, resource=None, group="", subresource="", namespace="", name="",
                 path=None, api_version=""):
        self.verb = verb
        self.user = user
        self.resource = resource
        self.group = group
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.path = path  # non-resource request
        self.api_version = api_version

    @property
    def is_resource(self):
        return self.path is None


def forbidden_message(a, reason=""):
    u = a.user.name
    if not a.is_resource:
        msg = 'forbidden: User "%s" cannot %s path "%s"' % (u, a.verb, a.path)
    else:
        res = a.resource + ("/" + a.subresource if a.subresource else "")
        qual = a.resource + ("." + a.group if a.group else "")
        head = '%s "%s" is forbidden' % (qual, a.name) if a.name else "%s is forbidden" % qual
        scope = 'in the namespace "%s"' % a.namespace if a.namespace else "at the cluster scope"
        msg = '%s: User "%s" cannot %s resource "%s" in API group "%s" %s' % (head, u, a.verb, res, a.group, scope)
    if reason:
        msg += ": " + reason
    return msg


def _match(values, want):
    return "*" in values or want in values


def rule_allows(rule, a):
    verbs = rule.get("verbs") or []
    if not _match(verbs, a.verb):
        return False
    if not a.is_resource:
        for p in rule.get("nonResourceURLs") or []:
            if p == "*" or p == a.path or (p.endswith("*") and a.path.startswith(p[:-1])):
                return True
        return False
    if rule.get("nonResourceURLs") and not rule.get("resources"):
        return False
    if not _match(rule.get("apiGroups") or [], a.group):
        return False
    full = a.resource + ("/" + a.subresource if a.subresource else "")
    resources = rule.get("resources") or []
    ok = False
    for r in resources:
        if r == "*" or r == full:
            ok = True
        elif r.startswith("*/") and a.subresource and r[2:] == a.subresource:
            ok = True
        elif r.endswith("/*") and a.subresource and r[:-2] == a.resource:
            ok = True
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    if names and a.name not in names:
        return False
    return True


def subject_matches(s, user, namespace=""):
    kind = s.get("kind")
    if kind == "User":
        return s.get("name") == user.name
    if kind == "Group":
        return s.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = s.get("namespace") or namespace
        return user.name == "system:serviceaccount:%s:%s" % (ns, s.get("name"))
    return False


class RBACCache:
    """Snapshot of roles and bindings, refreshed at most every ``ttl`` seconds."""

    def __init__(self, store, registry, ttl=1.0):
        self.store = store
        self.registry = registry
        self.ttl = ttl
        self.lock = threading.Lock()
        self.stamp = 0
        self.snapshot = None

    def invalidate(self):
        self.stamp = 0

    def get(self):
        with self.lock:
            if self.snapshot is None or time.monotonic() - self.stamp > self.ttl:
                try:
                    self._refresh()
                except Exception:
                    # like kube-apiserver's informer cache: keep authorizing from the last
                    # known policy while etcd is unreachable
                    if self.snapshot is None:
                        raise
                    self.stamp = time.monotonic()
            return self.snapshot

    def _refresh(self):
        g = "rbac.authorization.k8s.io"
        reg = self.registry
        crs, _ = self.store.list(reg.lookup(g, "v1", "clusterroles"))
        crbs, _ = self.store.list(reg.lookup(g, "v1", "clusterrolebindings"))
        roles, _ = self.store.list(reg.lookup(g, "v1", "roles"))
        rbs, _ = self.store.list(reg.lookup(g, "v1", "rolebindings"))
        cr = {o["metadata"]["name"]: self._rules_of(o, crs) for o in crs}
        r = {(o["metadata"]["namespace"], o["metadata"]["name"]): o.get("rules") or [] for o in roles}
        self.snapshot = (cr, crbs, r, rbs)
        self.stamp = time.monotonic()

    @staticmethod
    def _rules_of(role, all_roles):
        rules = list(role.get("rules") or [])
        agg = role.get("aggregationRule")
        if agg:  # aggregated ClusterRoles (admin/edit/view): union of the selected roles' rules
            from .store import parse_label_selector
            for sel in agg.get("clusterRoleSelectors") or []:
                want = ",".join("%s=%s" % kv for kv in (sel.get("matchLabels") or {}).items())
                pred = parse_label_selector(want)
                for other in all_roles:
                    if other is not role and pred((other.get("metadata") or {}).get("labels")):
                        rules.extend(other.get("rules") or [])
        return rules


def rbac_allows(cache, a):
    cr, crbs, roles, rbs = cache.get()
    for b in crbs:
        if not any(subject_matches(s, a.user) for s in b.get("subjects") or []):
            continue
        ref = b.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole" and any(rule_allows(r, a) for r in cr.get(ref.get("name"), [])):
            return True
    if a.is_resource and a.namespace:
        for b in rbs:
            if b["metadata"].get("namespace") != a.namespace:
                continue
            if not any(subject_matches(s, a.user, a.namespace) for s in b.get("subjects") or []):
                continue
            ref = b.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                rules = cr.get(ref.get("name"), [])
            else:
                rules = roles.get((a.namespace, ref.get("name")), [])
            if any(rule_allows(r, a) for r in rules):
                return True
    return False


NODE_READ = {("", "nodes"), ("", "pods"), ("", "services"), ("", "endpoints"), ("", "configmaps"),
             ("", "persistentvolumeclaims"), ("", "persistentvolumes"), ("storage.k8s.io", "csidrivers"),
             ("node.k8s.io", "runtimeclasses"), ("discovery.k8s.io", "endpointslices"),
             ("storage.k8s.io", "storageclasses")}


def node_authorize(a, store=None, registry=None):
    """The Node authorizer (plus NodeRestriction's ownership checks), simplified.

    Returns (decision, reason): decision True = allow, None = no opinion (fall through to RBAC)."""
    if "system:nodes" not in a.user.groups or not a.user.name.startswith("system:node:"):
        return None, ""
    node = a.user.name[len("system:node:"):]
    if not a.is_resource:
        return None, ""
    key = (a.group, a.resource)
    if key == ("", "nodes"):
        if a.verb in ("get", "list", "watch"):
            return True, ""
        if a.verb == "create" and not a.subresource:
            return True, ""  # NodeRestriction checks the name at admission
        if a.verb in ("update", "patch", "delete"):
            if a.name == node:
                return True, ""
            return False, 'node "%s" is not allowed to modify node "%s"' % (node, a.name)
    if key == ("coordination.k8s.io", "leases") and a.namespace == "kube-node-lease":
        if a.verb in ("get", "create", "update", "patch", "delete", "list", "watch"):
            if a.verb in ("list", "watch", "create") or a.name == node:
                return True, ""
            return False, 'can only access node lease with the same name as the requesting node'
    if key == ("", "pods"):
        if a.verb in ("get", "list", "watch"):
            return True, ""
        if a.verb in ("create", "update", "patch", "delete"):
            return True, ""  # NodeRestriction (in the handler) checks spec.nodeName
    if key == ("", "events") or key == ("events.k8s.io", "events"):
        if a.verb in ("create", "update", "patch"):
            return True, ""
    if key == ("certificates.k8s.io", "certificatesigningrequests") and not a.subresource \
            and a.verb in ("create", "get", "list", "watch"):
        return True, ""
    if key in NODE_READ and a.verb in ("get", "list", "watch"):
        return True, ""
    if key == ("", "secrets") and a.verb in ("get", "list", "watch"):
        # The real authorizer allows only secrets referenced by pods bound to the node (graph).
        return False, "no relationship found between node '%s' and this object" % node
    if key == ("", "serviceaccounts") and a.subresource == "token" and a.verb == "create":
        return True, ""
    return None, ""


class Authorizer:
    def __init__(self, modes, store, registry):
        self.modes = [m.strip() for m in (modes or "AlwaysAllow").split(",") if m.strip()]
        self.rbac = RBACCache(store, registry)
        self.store = store
        self.registry = registry

    def authorize(self, a):
        """Return (allowed, reason)."""
        if "system:masters" in a.user.groups:
            return True, ""
        reason = ""
        for mode in self.modes:
            if mode == "AlwaysAllow":
                return True, ""
            if mode == "AlwaysDeny":
                return False, ""
            if mode == "Node":
                d, why = node_authorize(a, self.store, self.registry)
                if d is True:
                    return True, ""
                if d is False:
                    reason = why
            elif mode == "RBAC":
                if rbac_allows(self.rbac, a):
                    return True, ""
        return False, reason
