# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""What the roles' dpkg-query probes answer: which packages are installed, and whether apt's and
deb822_repository's Python bindings (python3-apt, python3-debian) are among them.

Pure functions (standard library only). The input is the lines of ``dpkg-query --show --showformat=...``, one package
per line, whose first field is ``${Package}`` and whose last is ``${db:Status-Status}``, the fields separated by blanks
or ``|`` (the roles use ``${Package} ${db:Status-Status}`` and ``${Package}|${Version}|${db:Status-Want}|${db:Status-Status}``).
Neither a package name, a version nor a status contains a blank or a ``|``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# apt's Python binding (the apt module) and deb822_repository's (python3-debian).
APT_PYTHON_APT = "python3-apt"
APT_PYTHON_PACKAGES = (APT_PYTHON_APT, "python3-debian")

_FIELD_SEPARATORS = re.compile(r"[|\s]+")


def dpkg_installed(lines):
    """The names of the packages dpkg reports as installed, each once, in the order of the lines.

    A line with fewer than two fields, or whose status is anything but ``installed`` (``not-installed``,
    ``config-files``, ``half-installed``, ``unpacked``, ...), names no installed package.
    """
    if isinstance(lines, (str, bytes)) or not isinstance(lines, (list, tuple)):
        raise TypeError("expects the lines of dpkg-query --show (a registered result's stdout_lines), got %s"
                        % type(lines).__name__)
    names = []
    for line in lines:
        if not isinstance(line, str):
            raise TypeError("expects lines of text, got %s" % type(line).__name__)
        fields = [field for field in _FIELD_SEPARATORS.split(line) if field]
        if len(fields) >= 2 and fields[-1] == "installed" and fields[0] not in names:
            names.append(fields[0])
    return names


def apt_python(lines):
    """Whether check mode can ask apt (``apt``: python3-apt installed) and deb822_repository too (``ready``:
    python3-apt and python3-debian installed)."""
    installed = set(dpkg_installed(lines))
    return {
        "apt": APT_PYTHON_APT in installed,
        "ready": all(package in installed for package in APT_PYTHON_PACKAGES),
    }
