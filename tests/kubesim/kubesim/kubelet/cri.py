"""A minimal CRI (gRPC over HTTP/2 cleartext on a unix socket) client, standard library only.

Decision (issue 7 item 6): rather than depending on python3-grpcio + generated protobuf
code, the kubelet stand-in speaks just enough HTTP/2 to make unary gRPC calls to the REAL
containerd: connection preface, SETTINGS (+ACK), PING (+ACK), one HEADERS frame encoded
with HPACK literals (no Huffman, no dynamic table needed on our side), DATA frames. The
response's DATA frames carry the protobuf message, decoded by hand (only the fields used).

A call that ends without a message (a trailers-only answer: what gRPC sends for
Unimplemented and every other error) raises CRIError. Response header/trailer blocks are
not HPACK-decoded (servers Huffman-code them), so the exact gRPC code is not known; for
RuntimeConfig on containerd 1.x (which has no such RPC) that answer means "Unimplemented".

Calls used:
  runtime.v1.RuntimeService/Version        -> runtime name/version, CRI API version
  runtime.v1.RuntimeService/Status         -> RuntimeReady / NetworkReady conditions
  runtime.v1.RuntimeService/RuntimeConfig  -> cgroup driver (containerd >= 2.0)
"""

import socket
import struct

from .. import protowire

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


class CRIError(Exception):
    pass


def socket_path(endpoint):
    if endpoint.startswith("unix://"):
        return endpoint[len("unix://"):]
    if "://" in endpoint:
        raise CRIError(f"protocol {endpoint.split('://')[0]!r} not supported")
    return endpoint


# ----------------------------------------------------------------- HPACK
def _hpack_int(value, prefix_bits, first_byte=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    # the remainder continues as a base-128 varint (RFC 7541 5.1)
    return bytes([first_byte | limit]) + protowire.varint_bytes(value - limit)


def _hpack_literal(name, value):
    name, value = name.encode(), value.encode()
    # literal header field without indexing, new name (0000 0000), no Huffman
    return (b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value)


# -------------------------------------------------------------- protobuf
def pb_fields(data):
    """Decode a protobuf message into {field_number: [values]} (bytes or int)."""
    out = {}
    for num, _, val in protowire.fields(data, CRIError):
        out.setdefault(num, []).append(val)
    return out


def pb_string(value):
    """Field 1 (a string) of a message, as the only field; empty for an empty value."""
    out = b""
    if value:
        raw = value.encode()
        out = b"\x0a" + protowire.varint_bytes(len(raw)) + raw
    return out


# ------------------------------------------------------------------- call
def _frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise CRIError("connection closed by the runtime")
        buf.extend(chunk)
    return bytes(buf)


def unary_call(endpoint, method, request=b"", timeout=5.0):
    """Make one unary gRPC call; return the response message bytes."""
    path = socket_path(endpoint)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            raise CRIError(f'connection error: desc = "transport: Error while dialing: dial unix '
                           f'{path}: connect: {exc.strerror.lower() if exc.strerror else exc}"') from exc
        headers = b"".join(_hpack_literal(k, v) for k, v in (
            (":method", "POST"), (":scheme", "http"), (":path", method), (":authority", "localhost"),
            ("content-type", "application/grpc"), ("te", "trailers"),
            ("user-agent", "kubesim-kubelet/grpc"),
        ))
        body = b"\x00" + struct.pack(">I", len(request)) + request
        sock.sendall(PREFACE + _frame(SETTINGS, 0, 0)
                     + _frame(HEADERS, END_HEADERS, 1, headers)
                     + _frame(DATA, END_STREAM, 1, body))
        data = bytearray()
        while True:
            head = _recv_exact(sock, 9)
            length = int.from_bytes(head[:3], "big")
            ftype, flags = head[3], head[4]
            stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
            payload = _recv_exact(sock, length) if length else b""
            if ftype == SETTINGS and not flags & ACK:
                sock.sendall(_frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                sock.sendall(_frame(PING, ACK, 0, payload))
            elif ftype == GOAWAY:
                raise CRIError("the runtime closed the connection (GOAWAY)")
            elif ftype == RST_STREAM and stream == 1:
                raise CRIError("the runtime reset the stream")
            elif ftype == DATA and stream == 1:
                if flags & 0x8:  # PADDED
                    pad = payload[0]
                    payload = payload[1:len(payload) - pad]
                data.extend(payload)
                if length:
                    # give the flow-control window back
                    sock.sendall(_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", length))
                                 + _frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", length)))
                if flags & END_STREAM:
                    break
            elif ftype in (HEADERS, CONTINUATION) and stream == 1 and flags & END_STREAM:
                break
        if len(data) < 5:
            raise CRIError(f"rpc error: {method} returned no message (Unimplemented or failed)")
        msg_len = struct.unpack(">I", bytes(data[1:5]))[0]
        return bytes(data[5:5 + msg_len])
    except socket.timeout as exc:
        raise CRIError(f"rpc error: code = DeadlineExceeded desc = {method}: timed out") from exc
    finally:
        sock.close()


SERVICE = "/runtime.v1.RuntimeService/"


def version(endpoint, timeout=5.0):
    """-> {"version", "runtime_name", "runtime_version", "runtime_api_version"}"""
    f = pb_fields(unary_call(endpoint, SERVICE + "Version", pb_string("v1"), timeout))
    get = lambda n: f.get(n, [b""])[0].decode()  # noqa: E731
    return {"version": get(1), "runtime_name": get(2), "runtime_version": get(3),
            "runtime_api_version": get(4)}


def status(endpoint, timeout=5.0):
    """-> {condition type: (status bool, reason, message)}"""
    f = pb_fields(unary_call(endpoint, SERVICE + "Status", b"", timeout))
    out = {}
    for rs in f.get(1, []):
        for cond in pb_fields(rs).get(1, []):
            c = pb_fields(cond)
            ctype = c.get(1, [b""])[0].decode()
            out[ctype] = (bool(c.get(2, [0])[0]), c.get(3, [b""])[0].decode(),
                          c.get(4, [b""])[0].decode())
    return out


def cgroup_driver(endpoint, timeout=5.0):
    """-> "systemd" or "cgroupfs"; CRIError when the runtime has no RuntimeConfig (containerd 1.x)."""
    f = pb_fields(unary_call(endpoint, SERVICE + "RuntimeConfig", b"", timeout))
    linux = pb_fields(f.get(1, [b""])[0])
    return "cgroupfs" if linux.get(1, [0])[0] == 1 else "systemd"
