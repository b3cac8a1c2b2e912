#!/usr/bin/env bash
# Installs the Debian packages the interop tests run against, where their command is missing:
#   scripts/setup-debian.sh COMMAND=PACKAGE ...   (e.g. prometheus=prometheus)
# As root, or through sudo; `apt-get update` first when the package lists are empty.
set -euo pipefail
missing=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || { echo "setup-debian.sh: no apt-get here to install ${missing[*]}" >&2; exit 1; }
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
  "${as_root[@]}" apt-get update >&2
  "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
