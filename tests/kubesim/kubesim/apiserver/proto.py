"""Decoding of Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) for the
kinds kubectl's typed clients send with it (``kubectl create namespace|configmap|secret|
serviceaccount|role|clusterrole|rolebinding|clusterrolebinding|poddisruptionbudget``, ``kubectl auth
can-i|whoami``, the evictions of ``kubectl drain``).
Field numbers from the types' generated.proto.  Responses are always JSON (clients accept it)."""

import base64
import datetime

from .. import protowire

MAGIC = b"k8s\x00"


class ProtoError(Exception):
    pass


def fields(buf):
    """Yield (field number, wire type, value) for a protobuf message."""
    return protowire.fields(buf, ProtoError)


S, B, I, BOOL, TIME, MSS, MSB = "string", "bytes", "int", "bool", "time", "map_ss", "map_sb"
MSQ, INTSTR = "map_quantity", "intorstring"

TIME_MSG = None
OWNER_REF = {1: ("kind", S), 2: ("name", S), 3: ("uid", S), 5: ("apiVersion", S), 6: ("controller", BOOL),
             7: ("blockOwnerDeletion", BOOL)}
OBJECT_META = {1: ("name", S), 2: ("generateName", S), 3: ("namespace", S), 5: ("uid", S),
               6: ("resourceVersion", S), 7: ("generation", I), 8: ("creationTimestamp", TIME),
               9: ("deletionTimestamp", TIME), 10: ("deletionGracePeriodSeconds", I), 11: ("labels", MSS),
               12: ("annotations", MSS), 13: ("ownerReferences", [OWNER_REF]), 14: ("finalizers", [S])}
LOCAL_REF = {1: ("name", S)}
OBJECT_REF = {1: ("kind", S), 2: ("namespace", S), 3: ("name", S), 4: ("uid", S), 5: ("apiVersion", S),
              6: ("resourceVersion", S), 7: ("fieldPath", S)}
POLICY_RULE = {1: ("verbs", [S]), 2: ("apiGroups", [S]), 3: ("resources", [S]), 4: ("resourceNames", [S]),
               5: ("nonResourceURLs", [S])}
LABEL_SELECTOR_REQ = {1: ("key", S), 2: ("operator", S), 3: ("values", [S])}
LABEL_SELECTOR = {1: ("matchLabels", MSS), 2: ("matchExpressions", [LABEL_SELECTOR_REQ])}
SUBJECT = {1: ("kind", S), 2: ("apiGroup", S), 3: ("name", S), 4: ("namespace", S)}
ROLE_REF = {1: ("apiGroup", S), 2: ("kind", S), 3: ("name", S)}
RESOURCE_ATTRS = {1: ("namespace", S), 2: ("verb", S), 3: ("group", S), 4: ("version", S), 5: ("resource", S),
                  6: ("subresource", S), 7: ("name", S)}
NON_RESOURCE_ATTRS = {1: ("path", S), 2: ("verb", S)}

QUANTITY_MAP = MSQ
CONTAINER_PORT = {1: ("name", S), 2: ("hostPort", I), 3: ("containerPort", I), 4: ("protocol", S), 5: ("hostIP", S)}
ENV_VAR = {1: ("name", S), 2: ("value", S)}
RESOURCES = {1: ("limits", MSQ), 2: ("requests", MSQ)}
VOLUME_MOUNT = {1: ("name", S), 2: ("readOnly", BOOL), 3: ("mountPath", S), 4: ("subPath", S)}
CONTAINER = {1: ("name", S), 2: ("image", S), 3: ("command", [S]), 4: ("args", [S]), 5: ("workingDir", S),
             6: ("ports", [CONTAINER_PORT]), 7: ("env", [ENV_VAR]), 8: ("resources", RESOURCES),
             9: ("volumeMounts", [VOLUME_MOUNT]), 13: ("terminationMessagePath", S), 14: ("imagePullPolicy", S),
             16: ("stdin", BOOL), 17: ("stdinOnce", BOOL), 18: ("tty", BOOL), 20: ("terminationMessagePolicy", S)}
TOLERATION = {1: ("key", S), 2: ("operator", S), 3: ("value", S), 4: ("effect", S), 5: ("tolerationSeconds", I)}
POD_SPEC = {2: ("containers", [CONTAINER]), 3: ("restartPolicy", S), 4: ("terminationGracePeriodSeconds", I),
            6: ("dnsPolicy", S), 7: ("nodeSelector", MSS), 8: ("serviceAccountName", S), 10: ("nodeName", S),
            11: ("hostNetwork", BOOL), 19: ("schedulerName", S), 20: ("initContainers", [CONTAINER]),
            22: ("tolerations", [TOLERATION]), 24: ("priorityClassName", S)}
POD_TEMPLATE = {1: ("metadata", OBJECT_META), 2: ("spec", POD_SPEC)}
SERVICE_PORT = {1: ("name", S), 2: ("protocol", S), 3: ("port", I), 4: ("targetPort", INTSTR), 5: ("nodePort", I),
                6: ("appProtocol", S)}

CSR_CONDITION = {1: ("type", S), 2: ("reason", S), 3: ("message", S), 4: ("lastUpdateTime", TIME),
                 5: ("lastTransitionTime", TIME), 6: ("status", S)}

KINDS = {
    "TokenRequest": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("audiences", [S]), 4: ("expirationSeconds", I),
        3: ("boundObjectRef", {1: ("kind", S), 2: ("apiVersion", S), 3: ("name", S), 4: ("uid", S)})})},
    "CertificateSigningRequest": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("request", B), 2: ("username", S), 3: ("uid", S), 4: ("groups", [S]), 5: ("usages", [S]),
        7: ("signerName", S), 8: ("expirationSeconds", I)}), 3: ("status", {
            1: ("conditions", [CSR_CONDITION]), 2: ("certificate", B)})},
    "Deployment": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("replicas", I), 2: ("selector", LABEL_SELECTOR), 3: ("template", POD_TEMPLATE),
        4: ("strategy", {1: ("type", S)}), 5: ("minReadySeconds", I), 6: ("revisionHistoryLimit", I),
        7: ("paused", BOOL), 9: ("progressDeadlineSeconds", I)})},
    "Service": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("ports", [SERVICE_PORT]), 2: ("selector", MSS), 3: ("clusterIP", S), 4: ("type", S),
        5: ("externalIPs", [S]), 7: ("sessionAffinity", S), 10: ("externalName", S),
        11: ("externalTrafficPolicy", S), 18: ("clusterIPs", [S]), 19: ("ipFamilies", [S]),
        17: ("ipFamilyPolicy", S)})},
    "Namespace": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", [S])}), 3: ("status", {1: ("phase", S)})},
    "ConfigMap": {1: ("metadata", OBJECT_META), 2: ("data", MSS), 3: ("binaryData", MSB), 4: ("immutable", BOOL)},
    "Secret": {1: ("metadata", OBJECT_META), 2: ("data", MSB), 3: ("type", S), 4: ("stringData", MSS),
               5: ("immutable", BOOL)},
    "ServiceAccount": {1: ("metadata", OBJECT_META), 2: ("secrets", [OBJECT_REF]),
                       3: ("imagePullSecrets", [LOCAL_REF]), 4: ("automountServiceAccountToken", BOOL)},
    "Role": {1: ("metadata", OBJECT_META), 2: ("rules", [POLICY_RULE])},
    "ClusterRole": {1: ("metadata", OBJECT_META), 2: ("rules", [POLICY_RULE]),
                    3: ("aggregationRule", {1: ("clusterRoleSelectors", [LABEL_SELECTOR])})},
    "RoleBinding": {1: ("metadata", OBJECT_META), 2: ("subjects", [SUBJECT]), 3: ("roleRef", ROLE_REF)},
    "ClusterRoleBinding": {1: ("metadata", OBJECT_META), 2: ("subjects", [SUBJECT]), 3: ("roleRef", ROLE_REF)},
    "SelfSubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("resourceAttributes", RESOURCE_ATTRS), 2: ("nonResourceAttributes", NON_RESOURCE_ATTRS)})},
    "SelfSubjectRulesReview": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("namespace", S)})},
    "SelfSubjectReview": {1: ("metadata", OBJECT_META)},
    # policy/v1 (kubectl create poddisruptionbudget, kubectl drain's evictions)
    "PodDisruptionBudget": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("minAvailable", INTSTR), 2: ("selector", LABEL_SELECTOR), 3: ("maxUnavailable", INTSTR),
        4: ("unhealthyPodEvictionPolicy", S)})},
    "Eviction": {1: ("metadata", OBJECT_META), 2: ("deleteOptions", {
        1: ("gracePeriodSeconds", I), 4: ("propagationPolicy", S), 5: ("dryRun", [S])})},
    "PriorityClass": {1: ("metadata", OBJECT_META), 2: ("value", I), 3: ("globalDefault", BOOL),
                      4: ("description", S), 5: ("preemptionPolicy", S)},
}


def _time(buf):
    secs = 0
    for num, _, v in fields(buf):
        if num == 1:
            secs = v
    if not secs:
        return None  # zero Time: Go's JSON encoding writes null, dropped here
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _map(buf, bytes_values):
    k, val = "", b""
    for num, _, v in fields(buf):
        if num == 1:
            k = v.decode()
        elif num == 2:
            val = v
    return k, (base64.b64encode(val).decode() if bytes_values else val.decode())


def _scalar(typ, v):
    if typ == S:
        return v.decode()
    if typ == B:
        return base64.b64encode(v).decode()
    if typ == I:
        return v - (1 << 64) if v >= 1 << 63 else v
    if typ == BOOL:
        return bool(v)
    if typ == TIME:
        return _time(v)
    raise ProtoError("bad type")


def _empty(v):
    return v in ("", 0, False, None, [], {})


def decode_message(buf, schema):
    """Decode one message; zero values are dropped, as Go's JSON encoding does for omitempty fields."""
    out = {}
    for num, _, v in fields(buf):
        if num not in schema:
            continue
        name, typ = schema[num]
        if typ in (MSS, MSB):
            k, val = _map(v, typ == MSB)
            out.setdefault(name, {})[k] = val
        elif typ == MSQ:
            k, qbuf = "", b""
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    k = v2.decode()
                elif n2 == 2:
                    qbuf = v2
            out.setdefault(name, {})[k] = next((v3.decode() for n3, _, v3 in fields(qbuf) if n3 == 1), "0")
        elif typ == INTSTR:
            kind_, ival, sval = 0, 0, ""
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    kind_ = v2
                elif n2 == 2:
                    ival = v2
                elif n2 == 3:
                    sval = v2.decode()
            out[name] = sval if kind_ == 1 else ival
        elif isinstance(typ, list):
            inner = typ[0]
            lst = out.setdefault(name, [])
            if isinstance(inner, dict):
                lst.append(decode_message(v, inner))
            else:
                lst.append(_scalar(inner, v))
        elif isinstance(typ, dict):
            out[name] = decode_message(v, typ)
        else:
            out[name] = _scalar(typ, v)
    return {k: v for k, v in out.items() if not _empty(v)}


def decode(body):
    """Decode an envelope (``k8s\\0`` + runtime.Unknown) into a JSON-style dict."""
    if not body.startswith(MAGIC):
        raise ProtoError("missing protobuf envelope")
    api_version = kind = ""
    raw = b""
    for num, _, v in fields(body[len(MAGIC):]):
        if num == 1:
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    api_version = v2.decode()
                elif n2 == 2:
                    kind = v2.decode()
        elif num == 2:
            raw = v
    schema = KINDS.get(kind)
    if schema is None:
        raise ProtoError("protobuf body of kind %r is not supported by the stand-in" % kind)
    obj = decode_message(raw, schema)
    obj["apiVersion"] = api_version
    obj["kind"] = kind
    return obj
