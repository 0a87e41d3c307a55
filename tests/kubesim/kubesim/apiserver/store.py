"""Objects in etcd: key layout, resourceVersion = etcd mod_revision, optimistic concurrency,
selectors, API errors as Status objects."""

import copy
import datetime
import json
import random
import re
import uuid

from .. import etcd as etcdlib


class APIError(Exception):
    def __init__(self, code, reason, message, details=None):
        Exception.__init__(self, message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        return st


def qualified(res):
    return res.plural + ("." + res.group if res.group else "")


def not_found(res, name):
    return APIError(404, "NotFound", '%s "%s" not found' % (qualified(res), name),
                    {"name": name, "group": res.group, "kind": res.plural})


def already_exists(res, name):
    return APIError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(res), name),
                    {"name": name, "group": res.group, "kind": res.plural})


def conflict(res, name):
    return APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                    'please apply your changes to the latest version and try again' % (qualified(res), name),
                    {"name": name, "group": res.group, "kind": res.plural})


def bad_request(msg):
    return APIError(400, "BadRequest", msg)


def invalid(res, name, msg, causes=()):
    """422 Invalid as field.ErrorList gives it: kubectl prints 'The <Kind> "<name>" is invalid: ' followed
    by the causes (field: message), so every error carries its cause."""
    kind = res.kind + ("." + res.group if res.group else "")
    causes = list(causes)
    if not causes:
        field, _, detail = msg.partition(": ")
        reason = "FieldValueInvalid"
        if detail.startswith("Required value"):
            reason = "FieldValueRequired"
        elif detail.startswith("Forbidden"):
            reason = "FieldValueForbidden"
        elif detail.startswith("Too long"):
            reason = "FieldValueTooLong"
        causes = [{"reason": reason, "message": detail or msg, "field": field if detail else ""}]
    return APIError(422, "Invalid", '%s "%s" is invalid: %s' % (kind, name, msg),
                    {"name": name, "group": res.group, "kind": res.kind, "causes": causes})


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apiserver's utilrand alphanums
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


PATH_SEGMENT_NAMES = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CertificateSigningRequest"}


def generate_name(base):
    if len(base) > 58:
        base = base[:58]
    return base + "".join(random.choice(NAME_CHARS) for _ in range(5))


# --- selectors -----------------------------------------------------------------------------------
def parse_label_selector(text):
    """Return a predicate over a labels dict for the label selector syntax."""
    if not text:
        return lambda labels: True
    reqs = []
    # split on commas not inside parentheses
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        if not p:
            continue
        m = re.match(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$", p)
        if m:
            vals = {v.strip() for v in m.group(3).split(",") if v.strip() or True}
            key, op = m.group(1), m.group(2)
            reqs.append((key, op, vals))
            continue
        m = re.match(r"^([^\s!=]+)\s*(==|=|!=)\s*(.*)$", p)
        if m:
            key, op, val = m.group(1), m.group(2), m.group(3).strip()
            reqs.append((key, "!=" if op == "!=" else "=", {val}))
            continue
        if p.startswith("!"):
            reqs.append((p[1:].strip(), "!", None))
        else:
            reqs.append((p, "exists", None))
    return label_predicate(reqs)


def label_predicate(reqs):
    """A labels -> bool test from (key, op, values) requirements; op: = != in notin exists !."""
    def pred(labels):
        labels = labels or {}
        for key, op, vals in reqs:
            if op == "=" and labels.get(key) not in vals:
                return False
            if op == "!=" and key in labels and labels[key] in vals:
                return False
            if op == "in" and labels.get(key) not in vals:
                return False
            if op == "notin" and key in labels and labels[key] in vals:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "!" and key in labels:
                return False
        return True
    return pred


def _field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# Field selectors each kind supports upstream (besides metadata.name / metadata.namespace).
FIELD_LABELS = {
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"},
    "Node": {"spec.unschedulable"},
    "Secret": {"type"},
    "Namespace": {"status.phase"},
    "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type"},
    "Service": {"spec.clusterIP", "spec.type"},
    "ReplicaSet": {"status.replicas"},
    "ReplicationController": {"status.replicas"},
    "Job": {"status.successful"},
    "CertificateSigningRequest": {"spec.signerName"},
    "PersistentVolume": {"name"},
}


def parse_field_selector(text, res):
    if not text:
        return lambda obj: True
    allowed = {"metadata.name", "metadata.namespace"} | FIELD_LABELS.get(res.kind, set())
    reqs = []
    for p in text.split(","):
        p = p.strip()
        if not p:
            continue
        m = re.match(r"^([^!=]+)(==|=|!=)(.*)$", p)
        if not m:
            raise bad_request('invalid field selector: "%s"' % p)
        label = m.group(1).strip()
        if label not in allowed and res.crd is None:
            raise bad_request('field label not supported: %s' % label)
        if label not in allowed:
            raise bad_request('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"'
                              % label)
        reqs.append((label, m.group(2) == "!=", m.group(3).strip()))

    def pred(obj):
        for path, neg, val in reqs:
            if path == "metadata.namespace" and not res.namespaced:
                got = ""
            else:
                got = _field_value(obj, path)
            if (got == val) == neg:
                return False
        return True
    return pred


# --- the store -----------------------------------------------------------------------------------
class Store:
    def __init__(self, client, registry):
        self.etcd = client
        self.registry = registry

    @staticmethod
    def key(res, ns, name):
        if res.namespaced:
            return "/registry/%s/%s/%s" % (res.storage, ns, name)
        return "/registry/%s/%s" % (res.storage, name)

    @staticmethod
    def prefix(res, ns=None):
        if res.namespaced and ns:
            return "/registry/%s/%s/" % (res.storage, ns)
        return "/registry/%s/" % res.storage

    @staticmethod
    def decode(kv, res=None):
        obj = json.loads(kv.value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
        if res is not None and res.crd is not None:
            obj["apiVersion"] = res.api_version  # served at every version: no conversion
        return obj

    @staticmethod
    def encode(obj):
        obj = dict(obj)
        meta = dict(obj.get("metadata") or {})
        meta.pop("resourceVersion", None)
        obj["metadata"] = meta
        return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()

    def get(self, res, ns, name):
        kv, _ = self.etcd.get(self.key(res, ns, name))
        if kv is None:
            raise not_found(res, name)
        return self.decode(kv, res)

    def get_kv(self, res, ns, name):
        kv, _ = self.etcd.get(self.key(res, ns, name))
        return kv

    def list(self, res, ns=None, label=None, field=None):
        kvs, rev = self.etcd.range_prefix(self.prefix(res, ns))
        lp = parse_label_selector(label)
        fp = parse_field_selector(field, res)
        out = []
        for kv in kvs:
            o = self.decode(kv, res)
            if lp((o.get("metadata") or {}).get("labels")) and fp(o):
                out.append(o)
        return out, rev

    def create(self, res, ns, obj):
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            for _ in range(8):
                meta["name"] = generate_name(meta["generateName"])
                if self.get_kv(res, ns, meta["name"]) is None:
                    break
        name = meta.get("name")
        if not name:
            raise invalid(res, "", "metadata.name: Required value: name or generateName is required",
                          [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required",
                            "field": "metadata.name"}])
        if res.kind in PATH_SEGMENT_NAMES:
            # RBAC objects and CSRs only need a valid path segment (client-go's CSR names have capitals)
            if name in (".", "..") or "/" in name or "%" in name:
                raise invalid(res, name, 'metadata.name: Invalid value: "%s": may not contain \'/\' or \'%%\''
                              % name)
        elif not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            raise invalid(res, name, 'metadata.name: Invalid value: "%s": a lowercase RFC 1123 subdomain must '
                          "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
                          "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')" % name)
        if res.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        meta.pop("resourceVersion", None)
        meta.pop("deletionTimestamp", None)
        meta.pop("selfLink", None)
        if "spec" in obj and (res.kind in _generation_kinds() or res.crd is not None):
            meta["generation"] = 1
        rev = self.etcd.create(self.key(res, ns, name), self.encode(obj))
        if rev is None:
            raise already_exists(res, name)
        meta["resourceVersion"] = str(rev)
        return obj

    def update(self, res, ns, name, obj, expect_rv=None):
        """CAS write of a full object. ``expect_rv``: the mod_revision the caller read."""
        obj.setdefault("metadata", {})["resourceVersion"] = None
        ok, r = self.etcd.update(self.key(res, ns, name), self.encode(obj), int(expect_rv))
        if not ok:
            if r is None:
                raise not_found(res, name)
            raise conflict(res, name)
        obj["metadata"]["resourceVersion"] = str(r)
        return obj

    def delete(self, res, ns, name, expect_rv):
        ok, r = self.etcd.delete_if(self.key(res, ns, name), int(expect_rv))
        if not ok:
            if r is None:
                raise not_found(res, name)
            raise conflict(res, name)
        return r

    def guaranteed_update(self, res, ns, name, fn, retries=16):
        """Read-modify-write with retries on conflict: ``fn(obj) -> obj``."""
        for _ in range(retries):
            cur = self.get(res, ns, name)
            rv = cur["metadata"]["resourceVersion"]
            new = fn(copy.deepcopy(cur))
            if new is None:
                return cur
            try:
                return self.update(res, ns, name, new, rv)
            except APIError as e:
                if e.reason != "Conflict":
                    raise
        raise conflict(res, name)


def _generation_kinds():
    from .resources import GENERATION_KINDS
    return GENERATION_KINDS


EtcdError = etcdlib.EtcdError
