#!/usr/bin/env bash
# Snapshot of the installed packages and of /etc: "$KF_SNAPSHOT.dpkg" and "$KF_SNAPSHOT.etc".
# Also run by the verify step (same script, read from this file) so that both sides are taken alike.
set -euo pipefail
dpkg-query --show --showformat='${Package}:${Architecture} ${Version} ${db:Status-Abbrev}\n' | sort > "$KF_SNAPSHOT.dpkg"
find /etc -xdev \( -type f -o -type l -o -type d \) -printf '%p %y %m %u:%g %l\n' | sort > "$KF_SNAPSHOT.etc.meta"
find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum > "$KF_SNAPSHOT.etc.sums"
cat "$KF_SNAPSHOT.etc.meta" "$KF_SNAPSHOT.etc.sums" > "$KF_SNAPSHOT.etc"
