# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""Package filters of the roles' Debian tasks: the installed packages and apt's Python bindings in a dpkg-query answer.

The logic lives in plugins/module_utils/packages.py (unit and property tested); documentation in dpkg_installed.yml
and apt_python.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.packages import apt_python as _apt_python
from ansible_collections.kubeforge.kubeadm.plugins.module_utils.packages import dpkg_installed as _dpkg_installed


def dpkg_installed(lines):
    """The packages a dpkg-query answer reports as installed."""
    try:
        return _dpkg_installed(lines)
    except TypeError as exc:
        raise AnsibleFilterError("dpkg_installed: %s" % exc)


def apt_python(lines):
    """{apt, ready}: python3-apt installed; python3-apt and python3-debian installed."""
    try:
        return _apt_python(lines)
    except TypeError as exc:
        raise AnsibleFilterError("apt_python: %s" % exc)


class FilterModule(object):
    """Package filters of kubeforge.kubeadm."""

    def filters(self):
        return {"dpkg_installed": dpkg_installed, "apt_python": apt_python}
