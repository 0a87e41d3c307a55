"""Protobuf wire format, decoded and encoded by hand (standard library only).

Shared by the API server stand-in (``apiserver.proto``: kubectl's protobuf request bodies) and the
kubelet's CRI client (``kubelet.cri``: containerd's gRPC answers). Each caller passes the exception
class it raises for a malformed message, so its callers keep catching what they caught before.
"""


class WireError(Exception):
    """Default error for a malformed message."""


def varint(buf, pos, error=WireError):
    """Decode the base-128 varint at ``buf[pos:]``; return (value, position after it)."""
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise error("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def varint_bytes(value):
    """Encode a non-negative int as a base-128 varint."""
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def fields(buf, error=WireError):
    """Yield (field number, wire type, value) for each field of a message: an int for varints
    (wire type 0), bytes for length-delimited (2), fixed64 (1) and fixed32 (5) fields."""
    pos = 0
    while pos < len(buf):
        tag, pos = varint(buf, pos, error)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = varint(buf, pos, error)
        elif wire == 2:
            length, pos = varint(buf, pos, error)
            value = buf[pos:pos + length]
            pos += length
        elif wire == 1:
            value = buf[pos:pos + 8]
            pos += 8
        elif wire == 5:
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise error(f"unsupported protobuf wire type {wire}")
        yield num, wire, value


def field_bytes(num, value):
    """Encode one field: str/bytes length-delimited, bool/int as a varint (negative ints as 64-bit two's
    complement, as int64 fields are); proto3 defaults (None, "", b"", 0, False) are left out, as protoc does."""
    if value is None or value == "" or value == b"" or value is False or (type(value) is int and value == 0):
        return b""
    if isinstance(value, (bool, int)):
        return varint_bytes(num << 3) + varint_bytes(int(value) & 0xFFFFFFFFFFFFFFFF)
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return varint_bytes(num << 3 | 2) + varint_bytes(len(raw)) + raw


def message(*pairs):
    """Encode a message from (field number, value) pairs; a list value is a repeated field."""
    out = bytearray()
    for num, value in pairs:
        for item in value if isinstance(value, (list, tuple)) else (value,):
            out += field_bytes(num, item)
    return bytes(out)
