#!/usr/bin/env bash
# Install the system packages chuong needs when they are missing (Debian/Ubuntu, apt-get).
# Usage: scripts/system-deps.sh mosquitto [chromium ...]
# Idempotent: a package whose command is already present is left alone.
set -euo pipefail

declare -A command_of=(
  [mosquitto]="mosquitto"
  [mosquitto-clients]="mosquitto_pub"
  [chromium]="chromium"
  [systemd]="systemd-analyze"
  [postgresql]="pg_ctlcluster"  # initdb and pg_ctl are in /usr/lib/postgresql/<version>/bin
)

installed() {  # a package's command is on the PATH, or (a library) dpkg knows it installed
  local pkg=$1 cmd="${command_of[$1]:-$1}"
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 && return 0
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "$@"; do
  installed "$pkg" || missing+=("$pkg")
done
((${#missing[@]})) || exit 0

echo "installing system packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# --no-install-recommends keeps the install small; the broker is started by the tests and the demo
# themselves on free ports, never as the system service.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
