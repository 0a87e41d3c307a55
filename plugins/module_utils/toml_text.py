# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""TOML text of plain data (containerd's config.toml and hosts.toml), Python standard library only.

Scalars, lists and inline tables; nested non-empty mappings become ``[a.b]`` table headers. The output is
exactly what the role's former Jinja macro (templates/toml.j2) rendered: a table's scalars (empty mappings
included, as inline ``{  }``) come first under its header, then its sub-tables in order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

# \Z, not $: "$" also matches before a final newline, and "key\n" is no bare key (the former macro wrote it bare).
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+\Z")


def _is_mapping(value):
    return hasattr(value, "items") and hasattr(value, "keys")


def toml_key(name):
    """A bare key when TOML allows one, else a quoted (JSON-escaped) key."""
    name = str(name)
    return name if _BARE_KEY.match(name) else json.dumps(name)


def toml_value(data):
    """One TOML value: boolean, number, string, inline table or array."""
    if data is True or data is False:
        return "true" if data else "false"
    if isinstance(data, (int, float)):
        return str(data)
    if isinstance(data, str):
        return json.dumps(data)
    if _is_mapping(data):
        return "{ %s }" % ", ".join("%s = %s" % (toml_key(key), toml_value(value)) for key, value in data.items())
    if data is None:
        raise ValueError("TOML has no null value")
    return "[%s]" % ", ".join(toml_value(item) for item in data)


def _table(path, data, out):
    tables = [key for key, value in data.items() if _is_mapping(value) and len(value) > 0]
    scalars = [key for key in data if key not in tables]
    if scalars and path:
        out.append("\n[%s]\n" % ".".join(toml_key(part) for part in path))
    for key in scalars:
        out.append("%s = %s\n" % (toml_key(key), toml_value(data[key])))
    for key in tables:
        _table(path + [key], data[key], out)


def to_toml(data):
    """TOML text of a mapping: its scalars first, then one ``[table]`` per nested non-empty mapping."""
    if not _is_mapping(data):
        raise ValueError("to_toml expects a mapping, got %s" % type(data).__name__)
    out = []
    _table([], data, out)
    return "".join(out)
