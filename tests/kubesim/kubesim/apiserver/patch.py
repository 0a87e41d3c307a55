"""PATCH semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
(the list-merge keys of the built-in types that matter) and server-side apply field sets."""

import copy
import json


class PatchError(Exception):
    pass


# --- JSON merge patch ----------------------------------------------------------------------------
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# --- JSON patch ----------------------------------------------------------------------------------
def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError("doc is missing path: %s" % "/" + "/".join(parts))
        elif isinstance(cur, dict):
            if p not in cur:
                raise PatchError("doc is missing path: /%s" % "/".join(parts))
            cur = cur[p]
        else:
            raise PatchError("doc is missing path: /%s" % "/".join(parts))
    return cur


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        if kind in ("add", "replace", "test"):
            value = copy.deepcopy(op.get("value"))
        if kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                _remove(doc, src)
            kind = "add"
        if kind == "test":
            if _walk(doc, parts) != value:
                raise PatchError("testing value /%s failed: test failed" % "/".join(parts))
            continue
        if kind == "remove":
            _remove(doc, parts)
            continue
        if kind not in ("add", "replace"):
            raise PatchError("Unexpected kind: %s" % kind)
        if not parts:
            doc = value
            continue
        parent = _walk(doc, parts[:-1])
        last = parts[-1]
        if isinstance(parent, list):
            if last == "-":
                parent.append(value)
            else:
                try:
                    idx = int(last)
                except ValueError:
                    raise PatchError("invalid index %r" % last)
                if kind == "add":
                    if idx > len(parent):
                        raise PatchError("add operation does not apply: doc is missing path: %s" % op["path"])
                    parent.insert(idx, value)
                else:
                    if idx >= len(parent):
                        raise PatchError("replace operation does not apply: doc is missing key: %s" % op["path"])
                    parent[idx] = value
        elif isinstance(parent, dict):
            if kind == "replace" and last not in parent:
                raise PatchError("replace operation does not apply: doc is missing key: %s" % op["path"])
            parent[last] = value
        else:
            raise PatchError("doc is missing path: %s" % op["path"])
    return doc


def _remove(doc, parts):
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        try:
            del parent[int(last)]
        except (ValueError, IndexError):
            raise PatchError("remove operation does not apply: doc is missing path: /%s" % "/".join(parts))
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise PatchError("remove operation does not apply: doc is missing path: /%s" % "/".join(parts))


# --- strategic merge patch -----------------------------------------------------------------------
# Field name -> patch merge key, for lists with patchStrategy "merge" in the built-in types.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type", "addresses": "type",
    "ownerReferences": "uid", "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
    "podIPs": "ip", "hostIPs": "ip", "secrets": "name",
}
# Atomic lists (replaced whole), e.g. node taints, tolerations, args, containerStatuses: not listed.
# ports: containerPort in containers (merge key containerPort), port in Services (merge key port).
PRIMITIVE_MERGE = {"finalizers"}


def _merge_key(field, items):
    if field == "ports":
        for it in items:
            if isinstance(it, dict):
                if "containerPort" in it:
                    return "containerPort"
                if "port" in it:
                    return "port"
        return None
    return MERGE_KEYS.get(field)


def strategic_merge(target, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return copy.deepcopy(p)
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            cur = out.get(name)
            if isinstance(cur, list):
                out[name] = [x for x in cur if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(v, list):
            out[k] = _merge_list(k, cur, v)
        elif isinstance(v, dict):
            merged = strategic_merge(cur, v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
    # apply element order directives after merging
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list):
                out[name] = _reorder(name, out[name], v)
    return out


def _reorder(field, items, order):
    key = _merge_key(field, items + list(order))
    def ident(x):
        if key and isinstance(x, dict):
            return json.dumps(x.get(key), sort_keys=True)
        return json.dumps(x, sort_keys=True)
    pos = {ident(o): i for i, o in enumerate(order)}
    return sorted(items, key=lambda x: pos.get(ident(x), len(pos)))


def _merge_list(field, cur, patch_items):
    cur = list(cur) if isinstance(cur, list) else []
    if field in PRIMITIVE_MERGE:
        out = list(cur)
        for x in patch_items:
            if x not in out:
                out.append(x)
        return out
    # a list entry {"$patch": "replace"} replaces the whole list
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch_items):
        return [copy.deepcopy(x) for x in patch_items if not (isinstance(x, dict) and "$patch" in x)]
    key = _merge_key(field, cur + patch_items)
    if not key:
        return copy.deepcopy([x for x in patch_items])
    out = list(cur)
    for item in patch_items:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge({}, item, field))
        else:
            out[idx] = strategic_merge(out[idx], item, field)
    return out


# --- server-side apply field sets (managedFields fieldsV1) ----------------------------------------
def field_set(obj, field=None):
    """fieldsV1-style tree of the fields set in ``obj`` (applied configuration)."""
    out = {}
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if field is None and k in ("apiVersion", "kind"):
            continue
        if field is None and k == "metadata":
            sub = {}
            for mk in ("labels", "annotations"):
                if isinstance(v.get(mk), dict):
                    sub["f:" + mk] = {"f:" + lk: {} for lk in v[mk]}
            if v.get("finalizers"):
                sub["f:finalizers"] = {"v:" + json.dumps(x): {} for x in v["finalizers"]}
            if sub:
                out["f:metadata"] = sub
            continue
        fk = "f:" + k
        if isinstance(v, dict):
            out[fk] = field_set(v, k) or {}
        elif isinstance(v, list):
            key = _merge_key(k, v)
            if key and all(isinstance(x, dict) and key in x for x in v):
                sub = {}
                for x in v:
                    ident = "k:" + json.dumps({key: x[key]}, separators=(",", ":"))
                    inner = field_set(x, k)
                    inner["."] = {}
                    sub[ident] = inner
                out[fk] = sub
            else:
                out[fk] = {}
        else:
            out[fk] = {}
    return out


def remove_fields(obj, removed):
    """Remove from ``obj`` every path in the field tree ``removed`` that is a leaf there."""
    if not isinstance(obj, dict):
        return
    for fk, sub in removed.items():
        if fk.startswith("f:"):
            name = fk[2:]
            if name not in obj:
                continue
            if not sub or sub == {".": {}}:
                del obj[name]
            elif isinstance(obj[name], dict):
                remove_fields(obj[name], sub)
            elif isinstance(obj[name], list):
                for ik, isub in sub.items():
                    if ik.startswith("k:"):
                        ident = json.loads(ik[2:])
                        (key, val), = ident.items()
                        for i, x in enumerate(obj[name]):
                            if isinstance(x, dict) and x.get(key) == val:
                                if "." in isub:
                                    del obj[name][i]
                                else:
                                    remove_fields(x, isub)
                                break
                    elif ik.startswith("v:"):
                        val = json.loads(ik[2:])
                        if val in obj[name]:
                            obj[name].remove(val)


def subtract(a, b):
    """Field tree of paths in ``a`` that are not in ``b``."""
    out = {}
    for k, v in a.items():
        if k not in b:
            out[k] = v
        elif v and b[k] is not None:
            d = subtract(v, b[k])
            if d:
                out[k] = d
    return out


def union(a, b):
    """Union of two field trees."""
    out = dict(a)
    for k, v in b.items():
        out[k] = union(out[k], v) if k in out and out[k] and v else (out.get(k) or v)
    return out


def leaf_paths(tree, prefix=()):
    """Every owned leaf of a field tree, as a tuple of keys ("f:spec", "k:{...}", ...)."""
    out = []
    for k, v in tree.items():
        if k == ".":
            out.append(prefix)
            continue
        if not v:
            out.append(prefix + (k,))
        else:
            out.extend(leaf_paths(v, prefix + (k,)))
    return out


def has_path(tree, path):
    cur = tree
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return False
        cur = cur[k]
    return True


def remove_path(tree, path):
    """Drop ``path`` from a field tree (and parents left empty)."""
    if not path:
        return
    head, rest = path[0], path[1:]
    if head not in tree:
        return
    if not rest:
        del tree[head]
        return
    remove_path(tree[head], rest)
    if tree[head] == {}:
        del tree[head]


_MISSING = object()


def value_at(obj, path):
    cur = obj
    for k in path:
        if k.startswith("f:"):
            if not isinstance(cur, dict) or k[2:] not in cur:
                return _MISSING
            cur = cur[k[2:]]
        elif k.startswith("k:"):
            ident = json.loads(k[2:])
            if not isinstance(cur, list):
                return _MISSING
            cur = next((x for x in cur if isinstance(x, dict) and all(x.get(a) == b for a, b in ident.items())),
                       _MISSING)
            if cur is _MISSING:
                return _MISSING
        elif k.startswith("v:"):
            val = json.loads(k[2:])
            if not isinstance(cur, list) or val not in cur:
                return _MISSING
            cur = val
        else:
            return _MISSING
    return cur


def path_string(path):
    out = ""
    for k in path:
        if k.startswith("f:"):
            out += "." + k[2:]
        elif k.startswith("k:"):
            ident = json.loads(k[2:])
            out += "[" + ",".join("%s=%s" % (a, json.dumps(b)) for a, b in ident.items()) + "]"
        elif k.startswith("v:"):
            out += "[=" + k[2:] + "]"
    return out


def changed_fields(old, new, field=None, top=True):
    """Field tree of what differs between two objects (what an Update operation takes ownership of)."""
    out = {}
    if not isinstance(new, dict):
        return out
    old = old if isinstance(old, dict) else {}
    for k, v in new.items():
        if top and k in ("apiVersion", "kind", "status"):
            continue
        if top and k == "metadata":
            sub = {}
            for mk in ("labels", "annotations"):
                nv, ov = v.get(mk) or {}, (old.get("metadata") or {}).get(mk) or {}
                ch = {"f:" + lk: {} for lk, lv in nv.items() if ov.get(lk) != lv}
                if ch:
                    sub["f:" + mk] = ch
            if sub:
                out["f:metadata"] = sub
            continue
        ov = old.get(k, _MISSING)
        if ov == v:
            continue
        if isinstance(v, dict) and isinstance(ov, dict):
            sub = changed_fields(ov, v, k, False)
            if sub:
                out["f:" + k] = sub
        elif isinstance(v, list) and isinstance(ov, list):
            key = _merge_key(k, v)
            if key and all(isinstance(x, dict) and key in x for x in v):
                sub = {}
                for x in v:
                    prev = next((y for y in ov if isinstance(y, dict) and y.get(key) == x[key]), None)
                    if prev == x:
                        continue
                    ident = "k:" + json.dumps({key: x[key]}, separators=(",", ":"))
                    inner = changed_fields(prev or {}, x, k, False)
                    if prev is None:
                        inner["."] = {}
                    sub[ident] = inner or {".": {}}
                if sub:
                    out["f:" + k] = sub
            else:
                out["f:" + k] = {}
        else:
            out["f:" + k] = {}
    return out
