"""CRUD, patch, apply and watch on one resource (the REST storage + admission, simplified)."""

import copy
import json
import threading
import time

import yaml

from .. import etcd as etcdlib
from . import patch as patchlib, tables
from .resources import GENERATION_KINDS
from .store import (APIError, bad_request, conflict, invalid, now, qualified, parse_field_selector,
                    label_predicate, parse_label_selector)

JSON = "application/json"
TABLE_CT = "application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept):
    for part in (accept or "").split(","):
        if "as=Table" in part and "g=meta.k8s.io" in part:
            return True
    return False


class _WatchGuard(threading.Thread):
    """Ends a watch at its timeout, or as soon as the client goes away (a streaming watch never
    receives anything from the client, so a readable socket means EOF or close_notify)."""

    def __init__(self, conn, watch, timeout):
        threading.Thread.__init__(self, daemon=True)
        self.conn, self.watch, self.deadline = conn, watch, time.monotonic() + timeout
        self.done = threading.Event()

    def cancel(self):
        self.done.set()

    def run(self):
        import select
        while not self.done.wait(1.0):
            if time.monotonic() >= self.deadline:
                break
            try:
                r, _, _ = select.select([self.conn.fileno()], [], [], 0)
            except (OSError, ValueError):
                break
            if r:
                break
        self.watch.close()


def _without_times(obj):
    o = dict(obj)
    meta = dict(o.get("metadata") or {})
    meta["managedFields"] = [{k: v for k, v in m.items() if k != "time"} for m in meta.get("managedFields") or []]
    o["metadata"] = meta
    return o


def user_agent_manager(ua):
    # kube-apiserver's default field manager: the user agent up to the first "/"
    return (ua or "unknown").split("/")[0] or "unknown"


class Ops:
    def __init__(self, h, res, ns, name, sub):
        self.h = h
        self.api = h.api
        self.store = h.api.store
        self.res = res
        self.ns = ns
        self.name = name
        self.sub = sub
        self.q = h.q
        self.dry = "All" in self.q.get("dryRun", "")

    # --- read ---------------------------------------------------------------------------------
    def get(self):
        obj = self.store.get(self.res, self.ns, self.name)
        if self.sub == "scale":
            return self.h.send_json(200, self.scale_of(obj))
        if wants_table(self.h.headers.get("Accept")):
            t = tables.table(self.res, [obj], obj["metadata"]["resourceVersion"], self.q.get("includeObject", "Metadata"))
            return self.h.send_json(200, t, TABLE_CT)
        self.h.send_json(200, obj)

    def list(self):
        objs, rev = self.store.list(self.res, self.ns, self.q.get("labelSelector"), self.q.get("fieldSelector"))
        if wants_table(self.h.headers.get("Accept")):
            t = tables.table(self.res, objs, rev, self.q.get("includeObject", "Metadata"))
            return self.h.send_json(200, t, TABLE_CT)
        body = {"kind": self.res.kind + "List", "apiVersion": self.res.api_version,
                "metadata": {"resourceVersion": str(rev)}, "items": objs}
        self.h.send_json(200, body)

    # --- watch --------------------------------------------------------------------------------
    def watch(self):
        h = self.h
        res = self.res
        field = self.q.get("fieldSelector") or ""
        if self.name:
            field = ",".join(x for x in (field, "metadata.name=" + self.name) if x)
        lp = parse_label_selector(self.q.get("labelSelector"))
        fp = parse_field_selector(field, res)
        table = wants_table(h.headers.get("Accept"))
        include = self.q.get("includeObject", "Metadata")
        try:
            timeout = float(self.q.get("timeoutSeconds") or 1800)
        except ValueError:
            timeout = 1800
        timeout = min(timeout, 3600)
        rv = self.q.get("resourceVersion", "")
        initial = self.q.get("sendInitialEvents") == "true"
        bookmarks = self.q.get("allowWatchBookmarks") == "true"

        def match(o):
            return o is not None and lp((o.get("metadata") or {}).get("labels")) and fp(o)

        first = [True]

        def render(obj):
            if not table:
                return obj
            t = tables.table(res, [obj], obj["metadata"].get("resourceVersion", ""), include)
            if not first[0]:
                t["columnDefinitions"] = None
            first[0] = False
            return t

        prefix = self.store.prefix(res, self.ns)
        start = 0
        pending = []
        if initial or rv in ("", "0"):
            objs, rev = self.store.list(res, self.ns, None, None)
            for o in objs:
                if match(o):
                    pending.append({"type": "ADDED", "object": render(o)})
            start = rev + 1
            if initial and bookmarks:
                pending.append({"type": "BOOKMARK", "object": {
                    "kind": res.kind, "apiVersion": res.api_version,
                    "metadata": {"resourceVersion": str(rev),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}})
        else:
            try:
                start = int(rv) + 1
            except ValueError:
                raise bad_request('invalid resource version "%s"' % rv)
        try:
            w = self.store.etcd.watch(prefix, start_revision=start, timeout=None)
        except etcdlib.EtcdError as e:
            raise APIError(500, "InternalError", "Internal error occurred: %s" % e)
        h.send_response(200)
        h.send_header("Content-Type", TABLE_CT if table else JSON)
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()
        h.close_connection = True

        def send(ev):
            data = json.dumps(ev, separators=(",", ":")).encode() + b"\n"
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        timer = _WatchGuard(h.connection, w, timeout)
        timer.start()
        try:
            for ev in pending:
                send(ev)
            for evs in w:
                for typ, kv, prev in evs:
                    new = None
                    old = None
                    if typ == "PUT":
                        new = self.store.decode(kv, res)
                    if prev is not None:
                        old = self.store.decode(prev, res)
                    if typ == "DELETE" and old is not None:
                        old["metadata"]["resourceVersion"] = str(kv.mod_revision)
                    nm, om = match(new), match(old)
                    if typ == "PUT" and nm and om:
                        send({"type": "MODIFIED", "object": render(new)})
                    elif typ == "PUT" and nm:
                        send({"type": "ADDED", "object": render(new)})
                    elif om:
                        o = old
                        if typ == "PUT":
                            o = new
                        send({"type": "DELETED", "object": render(o)})
        except etcdlib.EtcdError as e:
            if getattr(e, "revision", None):
                try:
                    send({"type": "ERROR", "object": {
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "too old resource version: %s (%s)" % (rv, e.revision),
                        "reason": "Expired", "code": 410}})
                except OSError:
                    pass
        except (OSError, ValueError):
            pass
        finally:
            timer.cancel()
            w.close()
        try:
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (OSError, ValueError):
            pass

    # --- write helpers ----------------------------------------------------------------------------
    def check_kind(self, obj):
        kind, av = obj.get("kind"), obj.get("apiVersion")
        if av and av != self.res.api_version:
            raise bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                              % (av, self.res.api_version))
        if kind and kind != self.res.kind:
            raise bad_request("the kind in the data (%s) does not match the expected kind (%s)"
                              % (kind, self.res.kind))
        obj["kind"] = self.res.kind
        obj["apiVersion"] = self.res.api_version

    def check_ns(self, obj):
        meta = obj.setdefault("metadata", {})
        if self.res.namespaced:
            if meta.get("namespace") and meta["namespace"] != self.ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            meta["namespace"] = self.ns
        else:
            meta.pop("namespace", None)

    def manager(self):
        return self.q.get("fieldManager") or user_agent_manager(self.h.headers.get("User-Agent"))

    def record_manager(self, obj, fields, operation="Update", manager=None, transfer=None):
        """managedFields bookkeeping: an Update manager adds what it changed to what it owned and
        takes it from the others; an Apply manager owns exactly what it applied (shared with others
        unless ``transfer`` — forced conflicts — moves fields to it). Empty managers are dropped."""
        manager = manager or self.manager()
        entries = obj["metadata"].get("managedFields") or []
        prev = next((m for m in entries if m.get("manager") == manager and m.get("operation") == operation
                     and m.get("subresource", "") == self.sub), None)
        if operation == "Update":
            if prev:
                fields = patchlib.union(prev.get("fieldsV1") or {}, fields)
            transfer = fields
        out = []
        for m in entries:
            if m is prev:
                continue
            if transfer and m.get("subresource", "") == self.sub:
                f = copy.deepcopy(m.get("fieldsV1") or {})
                for p in patchlib.leaf_paths(transfer):
                    patchlib.remove_path(f, p)
                if not f:
                    continue
                m = dict(m, fieldsV1=f)
            out.append(m)
        if fields:
            entry = {"manager": manager, "operation": operation, "apiVersion": self.res.api_version,
                     "time": now(), "fieldsType": "FieldsV1", "fieldsV1": fields}
            if self.sub:
                entry["subresource"] = self.sub
            out.append(entry)
        if out:
            obj["metadata"]["managedFields"] = out
        else:
            obj["metadata"].pop("managedFields", None)

    def node_restriction(self, obj, old=None):
        u = self.h.user
        if "system:nodes" not in u.groups or not u.name.startswith("system:node:"):
            return
        node = u.name[len("system:node:"):]
        if self.res.kind == "Node" and (obj or old) and ((obj or old)["metadata"].get("name") != node):
            raise APIError(403, "Forbidden", 'nodes "%s" is forbidden: node "%s" is not allowed to modify node "%s"'
                           % ((obj or old)["metadata"].get("name"), node, (obj or old)["metadata"].get("name")))
        if self.res.kind == "Pod":
            target = obj or old
            if ((target.get("spec") or {}).get("nodeName")) != node:
                verb = "create" if old is None else ("delete" if obj is None else "update")
                raise APIError(403, "Forbidden", 'pods "%s" is forbidden: node "%s" can only %s pods with '
                               'spec.nodeName set to itself' % (target["metadata"].get("name"), node, verb))

    # --- create -------------------------------------------------------------------------------
    def create(self):
        if self.sub == "binding":
            return self.bind()
        if self.sub == "eviction":
            return self.evict()
        if self.sub == "token":
            return self.token_request()
        obj = self.h.body_obj()
        if not isinstance(obj, dict):
            raise bad_request("the object provided is unrecognized")
        self.check_kind(obj)
        self.check_ns(obj)
        if "status" in self.res.subresources and self.res.kind not in ("Node", "Pod"):
            obj.pop("status", None)  # status is written through /status (nodes report theirs on create)
        from . import admission
        fields = patchlib.field_set(obj)
        admission.on_create(self, obj)
        self.node_restriction(obj)
        self.record_manager(obj, fields, "Update")
        if self.dry:
            obj["metadata"].setdefault("uid", "dry-run")
            return self.h.send_json(201, obj)
        created = self.store.create(self.res, self.ns, obj)
        admission.after_write(self, created)
        self.h.send_json(201, created)

    def bind(self):
        body = self.h.body_obj()
        target = (body.get("target") or {}).get("name")
        if not target:
            raise invalid(self.res, self.name, "target.name: Required value")

        def fn(p):
            if (p.get("spec") or {}).get("nodeName"):
                raise APIError(409, "Conflict", 'Operation cannot be fulfilled on pods/binding "%s": pod %s is '
                               'already assigned to node "%s"' % (self.name, self.name, p["spec"]["nodeName"]))
            p.setdefault("spec", {})["nodeName"] = target
            conds = [c for c in (p.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": now()})
            p["status"]["conditions"] = conds
            return p
        self.store.guaranteed_update(self.res, self.ns, self.name, fn)
        self.h.send_json(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "code": 201})

    def token_request(self):
        body = self.h.body_obj()
        sa = self.store.get(self.res, self.ns, self.name)
        tokens = self.api.tokens
        if tokens is None or tokens.signing_key is None or not tokens.issuers:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        spec = body.get("spec") or {}
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < 600:
            raise APIError(422, "Invalid", 'TokenRequest.authentication.k8s.io "%s" is invalid: '
                           'spec.expirationSeconds: Invalid value: %d: may not specify a duration less than 10 '
                           'minutes' % (self.name, seconds),
                           {"name": self.name, "group": "authentication.k8s.io", "kind": "TokenRequest",
                            "causes": [{"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                                        "message": "Invalid value: %d: may not specify a duration less than 10 "
                                                   "minutes" % seconds}]})
        token, exp = tokens.issue(self.ns, self.name, sa["metadata"]["uid"], spec.get("audiences"), seconds)
        import datetime
        out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"name": self.name, "namespace": self.ns, "creationTimestamp": None},
               "spec": {"audiences": spec.get("audiences") or tokens.audiences, "expirationSeconds": seconds,
                        "boundObjectRef": spec.get("boundObjectRef")},
               "status": {"token": token, "expirationTimestamp": datetime.datetime.fromtimestamp(
                   exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}
        self.h.send_json(201, out)

    def evict(self):
        """pods/eviction (pkg/registry/core/pod/storage/eviction.go): PodDisruptionBudgets are honoured."""
        cur = self.store.get(self.res, self.ns, self.name)
        self.check_disruption_budgets(cur)
        self.store.delete(self.res, self.ns, self.name, cur["metadata"]["resourceVersion"])
        self.h.send_json(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "code": 201})

    def check_disruption_budgets(self, pod):
        """429 when evicting the pod would take a matching PDB below its desired healthy pods.

        No disruption controller runs in the stand-in: the budget's status (expected, currentHealthy,
        desiredHealthy, disruptionsAllowed) is computed here from the pods its selector matches.
        """
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed", "Pending") or pod["metadata"].get("deletionTimestamp"):
            return  # canIgnorePDB
        pdb_res = self.api.registry.lookup("policy", "v1", "poddisruptionbudgets")
        labels = pod["metadata"].get("labels") or {}
        pdbs = [b for b in self.store.list(pdb_res, self.ns)[0]
                if selector_matches((b.get("spec") or {}).get("selector"), labels)]
        if not pdbs:
            return
        if len(pdbs) > 1:
            raise APIError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction "
                           "subresource does not support.")
        pdb = pdbs[0]
        spec = pdb.get("spec") or {}
        pods = [p for p in self.store.list(self.res, self.ns)[0]
                if selector_matches(spec.get("selector"), (p.get("metadata") or {}).get("labels"))
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        expected = len(pods)
        healthy = sum(1 for p in pods if not p["metadata"].get("deletionTimestamp") and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []))
        if spec.get("minAvailable") is not None:
            desired = scaled(spec["minAvailable"], expected, round_up=True)
        elif spec.get("maxUnavailable") is not None:
            desired = max(0, expected - scaled(spec["maxUnavailable"], expected, round_up=True))
        else:
            desired = expected  # policy/v1 defaults minAvailable to 1 only when both are unset at creation
        pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (pod.get("status") or {}).get("conditions") or [])
        if not pod_ready and healthy >= desired and desired > 0:
            return  # unhealthyPodEvictionPolicy IfHealthyBudget: an unready pod may go while the budget holds
        if healthy - desired <= 0:
            raise APIError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                           {"causes": [{"reason": "DisruptionBudget",
                                        "message": "The disruption budget %s needs %d healthy pods and has %d "
                                                   "currently" % (pdb["metadata"]["name"], desired, healthy)}],
                            "retryAfterSeconds": 10})

    # --- update -------------------------------------------------------------------------------
    def merge_update(self, cur, new):
        """Apply the rules of an update of the main resource or of a subresource."""
        res = self.res
        meta = new.setdefault("metadata", {})
        cmeta = cur["metadata"]
        if meta.get("name") and meta["name"] != self.name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta["name"], self.name))
        if meta.get("uid") and meta["uid"] != cmeta.get("uid"):
            raise conflict(res, self.name)
        if self.sub in ("status", "approval"):
            out = copy.deepcopy(cur)
            if self.sub == "status":
                out["status"] = new.get("status")
                if out["status"] is None:
                    out.pop("status")
            else:
                out.setdefault("status", {})["conditions"] = (new.get("status") or {}).get("conditions") or []
            # status writers may also change labels/annotations? kube-apiserver ignores metadata
            # changes on /status except for a few fields: keep the stored metadata.
            return out
        out = new
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in cmeta:
                meta[k] = cmeta[k]
            else:
                meta.pop(k, None)
        meta["name"] = self.name
        if "managedFields" not in meta and cmeta.get("managedFields"):
            meta["managedFields"] = cmeta["managedFields"]
        if "status" in res.subresources and res.kind != "Namespace":
            if "status" in cur:
                out["status"] = cur["status"]
            else:
                out.pop("status", None)
        elif res.kind == "Namespace":
            out["status"] = cur.get("status") or {"phase": "Active"}
        return out

    def write_update(self, cur, new, expect_rv, fields=None, operation="Update", manager=None, transfer=None):
        from . import admission
        self.check_kind(new)
        self.check_ns(new)
        new = self.merge_update(cur, new)
        admission.on_update(self, new, cur)
        if "generation" in cur["metadata"] and (self.res.kind in GENERATION_KINDS or self.res.crd is not None):
            if new.get("spec") != cur.get("spec") and not self.sub:
                new["metadata"]["generation"] = int(cur["metadata"]["generation"]) + 1
        self.node_restriction(new, cur)
        if operation == "Update":
            # an Update owns what it changed
            if self.sub:
                ch = patchlib.changed_fields({"s": cur.get(self.sub)}, {"s": new.get(self.sub)}, top=False)
                fields = {"f:" + self.sub: ch["f:s"]} if ch.get("f:s") else ({"f:" + self.sub: {}} if ch else {})
            else:
                fields = patchlib.changed_fields(cur, new)
        if fields is not None:
            self.record_manager(new, fields, operation, manager, transfer)
        for k in ("labels", "annotations"):
            if new["metadata"].get(k) == {}:
                new["metadata"].pop(k)
        if new == cur or _without_times(new) == _without_times(cur):
            return cur  # no-op: nothing written, resourceVersion unchanged
        if self.dry:
            return new
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.store.delete(self.res, self.ns, self.name, expect_rv)
            return new
        out = self.store.update(self.res, self.ns, self.name, new, expect_rv)
        admission.after_write(self, out)
        return out

    def update(self):
        body = self.h.body_obj()
        if self.sub == "scale":
            return self.update_scale(lambda s: body)
        cur = self.store.get(self.res, self.ns, self.name)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != cur["metadata"]["resourceVersion"]:
            raise conflict(self.res, self.name)
        out = self.write_update(cur, body, cur["metadata"]["resourceVersion"], patchlib.field_set(body))
        self.h.send_json(200, out)

    # --- patch --------------------------------------------------------------------------------
    def patch(self):
        ctype = (self.h.headers.get("Content-Type") or "").split(";")[0].strip()
        raw = self.h.read_body()
        if ctype == "application/apply-patch+yaml" or ctype == "application/apply-patch+cbor":
            return self.apply(raw)
        try:
            p = json.loads(raw or b"{}")
        except ValueError:
            try:
                p = yaml.safe_load(raw)
            except yaml.YAMLError:
                raise bad_request("error decoding patch: invalid JSON")
        if ctype not in ("application/json-patch+json", "application/merge-patch+json",
                         "application/strategic-merge-patch+json"):
            raise APIError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted '
                           'media types include: application/json-patch+json, application/merge-patch+json, '
                           'application/apply-patch+yaml, application/strategic-merge-patch+json')
        if ctype == "application/strategic-merge-patch+json" and self.res.crd is not None:
            raise APIError(415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources")
        if self.sub == "scale":
            return self.update_scale(lambda s: self.apply_patch(ctype, s, p))
        for attempt in range(16):
            if attempt:
                time.sleep(0.02 * attempt)  # GuaranteedUpdate retries; let a lagging read catch up with etcd
            cur = self.store.get(self.res, self.ns, self.name)
            try:
                new = self.apply_patch(ctype, cur, p)
            except patchlib.PatchError as e:
                raise APIError(422 if ctype == "application/json-patch+json" else 400,
                               "Invalid" if ctype == "application/json-patch+json" else "BadRequest", str(e))
            if not isinstance(new, dict):
                raise bad_request("patch produced a non-object")
            want_rv = (new.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
                raise conflict(self.res, self.name)
            try:
                out = self.write_update(cur, new, cur["metadata"]["resourceVersion"],
                                        patchlib.field_set(p) if isinstance(p, dict) else {})
            except APIError as e:
                if e.reason == "Conflict" and not want_rv:
                    continue
                raise
            return self.h.send_json(200, out)
        raise conflict(self.res, self.name)

    @staticmethod
    def apply_patch(ctype, cur, p):
        if ctype == "application/json-patch+json":
            return patchlib.json_patch(cur, p)
        if ctype == "application/merge-patch+json":
            return patchlib.merge_patch(cur, p)
        return patchlib.strategic_merge(cur, p)

    def apply(self, raw):
        """Server-side apply, simplified: the applied configuration is strategic-merged into the live
        object; fields this manager applied before and no longer applies are removed; no conflict
        detection against other managers (as if --force-conflicts were always given)."""
        try:
            cfg = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError as e:
            raise bad_request("error decoding YAML: %s" % e)
        if not isinstance(cfg, dict):
            raise bad_request("error decoding YAML: not an object")
        manager = self.q.get("fieldManager")
        if not manager:
            raise bad_request("PATCH request must include a fieldManager query parameter for apply")
        if not cfg.get("kind") or not cfg.get("apiVersion"):
            raise bad_request("invalid object type: /, Kind=")
        self.check_kind(cfg)
        fields = patchlib.field_set(cfg)
        force = self.q.get("force") == "true"
        for _ in range(16):
            try:
                cur = self.store.get(self.res, self.ns, self.name)
            except APIError as e:
                if e.code != 404 or self.sub:
                    raise
                obj = patchlib.strategic_merge({}, cfg)
                obj.setdefault("metadata", {})["name"] = self.name
                self.check_ns(obj)
                from . import admission
                admission.on_create(self, obj)
                self.node_restriction(obj)
                self.record_manager(obj, fields, "Apply", manager)
                if self.dry:
                    return self.h.send_json(201, obj)
                try:
                    created = self.store.create(self.res, self.ns, obj)
                except APIError as e2:
                    if e2.reason == "AlreadyExists":
                        continue
                    raise
                admission.after_write(self, created)
                return self.h.send_json(201, created)
            transfer = self.apply_conflicts(cur, cfg, fields, manager, force)
            base = copy.deepcopy(cur)
            prev = next((m for m in cur["metadata"].get("managedFields") or []
                         if m.get("manager") == manager and m.get("operation") == "Apply"
                         and m.get("subresource", "") == self.sub), None)
            if prev:
                # fields this manager applied before and applies no more are removed, unless another
                # manager also owns them (shared ownership keeps a field)
                removed = patchlib.subtract(prev.get("fieldsV1") or {}, fields)
                for m in cur["metadata"].get("managedFields") or []:
                    if m is not prev and m.get("subresource", "") == self.sub and removed:
                        removed = patchlib.subtract(removed, m.get("fieldsV1") or {})
                patchlib.remove_fields(base, removed)
            new = patchlib.strategic_merge(base, {k: v for k, v in cfg.items() if k != "metadata"} |
                                           {"metadata": {k: v for k, v in (cfg.get("metadata") or {}).items()
                                                         if k in ("labels", "annotations", "finalizers",
                                                                  "ownerReferences")}})
            try:
                out = self.write_update(cur, new, cur["metadata"]["resourceVersion"], fields, "Apply", manager,
                                        transfer)
            except APIError as e:
                if e.reason == "Conflict":
                    continue
                raise
            return self.h.send_json(200, out)
        raise conflict(self.res, self.name)

    def apply_conflicts(self, cur, cfg, fields, manager, force):
        """Fields this apply would change that another manager owns: 409 unless forced (then they
        move to this manager). Compared: scalar and atomic-list leaves whose value differs."""
        found = []
        for path in patchlib.leaf_paths(fields):
            if not path or path[-1].startswith("k:"):
                continue
            want = patchlib.value_at(cfg, path)
            have = patchlib.value_at(cur, path)
            if isinstance(want, dict) or have is patchlib._MISSING or want == have:
                continue
            for m in cur["metadata"].get("managedFields") or []:
                if m.get("subresource", "") != self.sub:
                    continue
                if m.get("manager") == manager and m.get("operation") == "Apply":
                    continue
                if patchlib.has_path(m.get("fieldsV1") or {}, path):
                    found.append((m, path))
        if not found:
            return None
        # kube-apiserver's lastAppliedManager: conflicts on fields recorded in the client-side
        # last-applied-configuration are forced, so client-side -> server-side apply upgrades work
        last = ((cur["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/last-applied-configuration"))
        if last and not force:
            try:
                last_fields = patchlib.field_set(json.loads(last))
            except ValueError:
                last_fields = {}
            if all(patchlib.has_path(last_fields, path) for _, path in found):
                force = True
        if force:
            moved = {}
            for _, path in found:
                node = moved
                for k in path:
                    node = node.setdefault(k, {})
            return moved
        by_mgr = {}
        for m, path in found:
            by_mgr.setdefault((m.get("manager"), m.get("apiVersion", self.res.api_version)), []).append(path)
        n = len(found)
        parts = []
        causes = []
        for (mgr, av), paths in by_mgr.items():
            if len(paths) == 1:
                parts.append('conflict with "%s" using %s: %s' % (mgr, av, patchlib.path_string(paths[0])))
            else:
                parts.append('conflicts with "%s" using %s:\n%s' % (
                    mgr, av, "\n".join("- " + patchlib.path_string(p) for p in paths)))
            for p in paths:
                causes.append({"reason": "FieldManagerConflict", "message": 'conflict with "%s" using %s' % (mgr, av),
                               "field": patchlib.path_string(p)})
        msg = "Apply failed with %d conflict%s: %s" % (n, "" if n == 1 else "s", "\n".join(parts))
        raise APIError(409, "Conflict", msg, {"causes": causes})

    # --- scale subresource --------------------------------------------------------------------
    def scale_of(self, obj):
        spec = obj.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace"),
                             "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
                             "creationTimestamp": obj["metadata"].get("creationTimestamp")},
                "spec": {"replicas": spec.get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": ",".join("%s=%s" % kv for kv in sorted(sel.items()))}}

    def update_scale(self, fn):
        def mutate(obj):
            scale = fn(self.scale_of(obj))
            want = int((scale.get("spec") or {}).get("replicas", 0))
            if want < 0:
                raise invalid(self.res, self.name, "spec.replicas: Invalid value: %d: must be greater than or "
                              "equal to 0" % want)
            if obj.setdefault("spec", {}).get("replicas", 1) == want:
                return None  # unchanged: no write
            obj["spec"]["replicas"] = want
            obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
            return obj
        out = self.store.guaranteed_update(self.res, self.ns, self.name, mutate)
        self.h.send_json(200, self.scale_of(out))

    # --- delete -------------------------------------------------------------------------------
    def delete_options(self):
        try:
            opts = self.h.body_obj()
        except APIError:
            opts = {}
        if not isinstance(opts, dict):
            opts = {}
        if "propagationPolicy" in self.q:
            opts["propagationPolicy"] = self.q["propagationPolicy"]
        if "dryRun" in self.q:
            opts["dryRun"] = [self.q["dryRun"]]
        return opts

    def delete(self, opts=None, name=None, respond=True):
        name = name or self.name
        opts = self.delete_options() if opts is None else opts
        from . import admission
        for _ in range(16):
            cur = self.store.get(self.res, self.ns, name)
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != cur["metadata"].get("uid"):
                raise APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: '
                               'UID in precondition: %s, UID in object meta: %s'
                               % (qualified(self.res), name, pre["uid"], cur["metadata"].get("uid")))
            if pre.get("resourceVersion") and pre["resourceVersion"] != cur["metadata"]["resourceVersion"]:
                raise APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: '
                               'ResourceVersion in precondition: %s, ResourceVersion in object meta: %s'
                               % (qualified(self.res), name, pre["resourceVersion"],
                                  cur["metadata"]["resourceVersion"]))
            if self.dry:
                break
            if self.res.kind in ("Node", "Pod"):
                self.node_restriction(None, cur)
            if self.res.kind == "Namespace":
                if cur["metadata"].get("deletionTimestamp"):
                    out = cur
                    break
                new = copy.deepcopy(cur)
                new["metadata"]["deletionTimestamp"] = now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                new["status"] = {"phase": "Terminating"}
                try:
                    out = self.store.update(self.res, self.ns, name, new, cur["metadata"]["resourceVersion"])
                except APIError as e:
                    if e.reason == "Conflict":
                        continue
                    raise
                break
            if cur["metadata"].get("finalizers"):
                if cur["metadata"].get("deletionTimestamp"):
                    out = cur
                    break
                new = copy.deepcopy(cur)
                new["metadata"]["deletionTimestamp"] = now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                try:
                    out = self.store.update(self.res, self.ns, name, new, cur["metadata"]["resourceVersion"])
                except APIError as e:
                    if e.reason == "Conflict":
                        continue
                    raise
                break
            try:
                self.store.delete(self.res, self.ns, name, cur["metadata"]["resourceVersion"])
            except APIError as e:
                if e.reason == "Conflict":
                    continue
                raise
            out = cur
            admission.after_delete(self, cur, opts.get("propagationPolicy") or "Background")
            break
        else:
            raise conflict(self.res, name)
        if respond:
            self.h.send_json(200, out)
        return out

    def delete_collection(self):
        opts = self.delete_options()
        objs, rev = self.store.list(self.res, self.ns, self.q.get("labelSelector"), self.q.get("fieldSelector"))
        for o in objs:
            try:
                self.delete(opts, o["metadata"]["name"], respond=False)
            except APIError as e:
                if e.code != 404:
                    raise
        self.h.send_json(200, {"kind": self.res.kind + "List", "apiVersion": self.res.api_version,
                               "metadata": {"resourceVersion": str(rev)}, "items": objs})


def selector_matches(selector, labels):
    """metav1.LabelSelector: an empty selector selects every pod (policy/v1), None selects none."""
    if selector is None:
        return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    reqs = [(k, "=", {v}) for k, v in (selector.get("matchLabels") or {}).items()]
    for req in selector.get("matchExpressions") or []:
        if req.get("operator") in ops:  # validation rejects other operators on create
            reqs.append((req.get("key"), ops[req["operator"]], set(req.get("values") or [])))
    return label_predicate(reqs)(labels)


def scaled(value, total, round_up):
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        pct = int(text[:-1])
        return -(-pct * total // 100) if round_up else pct * total // 100
    return int(text)
