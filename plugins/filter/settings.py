# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""Settings filters used by the validate play: string settings that must not be empty.

Argument specs can say "a string" but not "a non-empty string". This filter adds that check once,
for every option of every role, from the specs themselves. The rule (also in empty_settings.yml):

- A string option (type str or path; the items of a list of str or path; the sub-options of a dict or of
  a list of dicts, recursively) must not be empty, only whitespace or null,
- unless its spec says what empty means: its documented default is the empty string, or one sentence
  of its description starts with "Empty" (for example "Empty for none."). Null is also accepted when
  the documented default is null (setting null is then the same as not setting it).
- Whitespace only is refused everywhere: it is never "empty" to the roles, and never a useful value.
- Options with choices are left to the argument spec check (empty is not among the choices).

Documentation of the filter lives in the YAML file of the same name as the filter beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

_STRING_TYPES = ("str", "path")
_SENTENCE_END = re.compile(r"(?<=[.;:!?])\s+")


def _description_lines(option):
    description = option.get("description") or []
    if isinstance(description, str):
        description = [description]
    return [str(line) for line in description]


def may_be_empty(option):
    """True when the option's spec says what an empty value means (default "" or an "Empty ..." sentence)."""
    if option.get("default") == "":
        return True
    for line in _description_lines(option):
        for sentence in _SENTENCE_END.split(line.strip()):
            if sentence.startswith("Empty"):
                return True
    return False


def _problem(value, option, allow_empty):
    """What is wrong with one string value, or None."""
    if value is None:
        if allow_empty or "default" not in option or option.get("default") is None:
            return None
        return "null"
    if not isinstance(value, str):
        return None  # another type: the argument spec check reports it
    if value == "":
        return None if allow_empty else "empty"
    if not value.strip():
        return "only whitespace"
    return None


def _hint(option, allow_empty, item=False):
    if allow_empty:
        return "leave it empty ('') or set a value"
    if item:
        return "every item must be a non-empty string"
    default = option.get("default")
    if isinstance(default, str) and default:
        return "it must be a non-empty string; remove the setting to use the default (%s)" % default
    return "it must be a non-empty string"


def _check(name, value, option, found):
    """Append (name, problem, hint) for every empty string in one option's value."""
    kind = option.get("type", "str")
    allow_empty = may_be_empty(option)
    if kind in _STRING_TYPES and not option.get("choices"):
        problem = _problem(value, option, allow_empty)
        if problem:
            found.append((name, problem, _hint(option, allow_empty)))
    elif kind == "list" and is_sequence(value):
        elements = option.get("elements")
        for index, item in enumerate(value):
            item_name = "%s[%d]" % (name, index)
            if elements in _STRING_TYPES and not option.get("choices"):
                problem = "null" if item is None and not allow_empty else _problem(item, {}, allow_empty)
                if problem:
                    found.append((item_name, problem, _hint(option, allow_empty, item=True)))
            elif elements == "dict" and isinstance(item, dict) and option.get("options"):
                _check_options(item_name, item, option["options"], found)
    elif kind == "dict" and isinstance(value, dict) and option.get("options"):
        _check_options(name, value, option["options"], found)


def _check_options(prefix, values, options, found):
    for sub_name, sub_option in options.items():
        if sub_name in values:
            _check("%s.%s" % (prefix, sub_name), values[sub_name], sub_option or {}, found)


def _merge_specs(specs):
    """One option spec per name from a mapping or a list of mappings (name -> option); the first wins."""
    if isinstance(specs, dict):
        specs = [specs]
    if not is_sequence(specs):
        raise AnsibleFilterError("empty_settings: specs must be a mapping of option specs or a list of them")
    merged = {}
    for options in specs:
        if not isinstance(options, dict):
            raise AnsibleFilterError("empty_settings: every entry of specs must be a mapping of option specs")
        for name, option in options.items():
            merged.setdefault(name, option or {})
    return merged


def empty_settings(values_by_host, specs):
    """List the settings that are empty although they need a value, one message per setting and problem.

    ``values_by_host`` maps a host name to the settings its inventory sets (name -> value); ``specs``
    is an argument spec's options (name -> option) or a list of them. Messages name the setting (with
    ``[index]`` or ``.sub_option`` when the empty string is inside it) and the hosts, in name order.
    """
    if not isinstance(values_by_host, dict):
        raise AnsibleFilterError("empty_settings: expects a mapping of host name to its settings")
    options = _merge_specs(specs)
    hosts_by_problem = {}
    for host in values_by_host:
        values = values_by_host[host] or {}
        found = []
        for name in sorted(values):
            if name in options:
                _check(name, values[name], options[name], found)
        for entry in found:
            hosts_by_problem.setdefault(entry, []).append(str(host))
    messages = []
    for (name, problem, hint), hosts in sorted(hosts_by_problem.items()):
        messages.append("%s is %s (hosts: %s): %s" % (name, problem, ", ".join(hosts), hint))
    return messages


class FilterModule(object):
    """Settings filters of kubeforge.kubeadm."""

    def filters(self):
        return {
            "empty_settings": empty_settings,
        }
