#!/usr/bin/env bash
# Install (or upgrade) a chuong police post on this machine, as root: `sudo make install-post`.
# docs/INSTALL.md is the whole way from a bare Debian 12 machine to a first test press.
#
#   scripts/install-post.sh              install or upgrade; re-run it after `git pull`
#   scripts/install-post.sh --uninstall  remove the code and the units; keep the data and configs
#   scripts/install-post.sh --uninstall --purge   also the data, the configs and the user
#
# DESTDIR=/some/tree installs every file under that tree instead of / (for tests and packagers):
# the `chuong` user and its groups are still the machine's, no service is started, and the venv's
# scripts name their DESTDIR paths (a venv is not relocatable: a package rebuilds it in place).
#
# What it makes, and who may read it:
#   user chuong (system, no login), in dialout (the SMS modem) and audio (the siren) when they exist
#   /opt/chuong/.venv            the code, root:root, read-only to the service
#   /etc/chuong/                 root:chuong 0750
#     hub.toml                   root:chuong 0640, from config/hub.example.toml; kept on upgrade
#     hub.env                    root:chuong 0640, the hub's broker user and password, and its
#                                telemetry connection's password (added on upgrade if missing)
#   /var/lib/chuong/             chuong:chuong 0750, the store (its files 0600, made by the hub)
#   /etc/mosquitto/mosquitto.conf   config/mosquitto/mosquitto.conf (the Debian one is kept aside
#                                   as mosquitto.conf.before-chuong)
#   /etc/mosquitto/chuong/       passwd and acl for the broker, credentials.toml for the installer
#                                (`chuong registry credentials`)
#   /etc/systemd/system/chuong-hub.service, mosquitto.service.d/chuong.conf
#   /usr/local/bin/chuong        the post's chuong: /opt/chuong/.venv/bin/chuong with its config
#   /usr/share/sounds/chuong/siren.wav   the siren of the example escalation (made by hub.notify.siren)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
PYTHON=${PYTHON:-python3}
USER_NAME=chuong
OPT=/opt/chuong
VENV=$OPT/.venv
ETC=/etc/chuong
STATE=/var/lib/chuong
BROKER_ETC=/etc/mosquitto
CREDENTIALS=$BROKER_ETC/chuong
SOUNDS=/usr/share/sounds/chuong
HUB_BROKER_USER=chuong-hub
HUB_TELEMETRY_USER=chuong-hub-telemetry  # the hub's user with -telemetry (hub/config/mqtt.py)

uninstall=0
purge=0
for arg in "$@"; do
  case $arg in
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    *) echo "usage: $0 [--uninstall [--purge]]" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo make install-post" >&2; exit 1; }

live=0  # a real install on a machine whose systemd runs: start and stop services
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then live=1; fi

say() { printf '%s\n' "$*"; }

if [ "$uninstall" -eq 1 ]; then
  if [ "$live" -eq 1 ]; then systemctl disable --now chuong-hub.service 2>/dev/null || true; fi
  rm -f "$DESTDIR/etc/systemd/system/chuong-hub.service" \
        "$DESTDIR/etc/systemd/system/mosquitto.service.d/chuong.conf" \
        "$DESTDIR/usr/local/bin/chuong"
  rm -rf "$DESTDIR$OPT" "$DESTDIR$SOUNDS"
  if [ -f "$DESTDIR$BROKER_ETC/mosquitto.conf.before-chuong" ]; then
    mv "$DESTDIR$BROKER_ETC/mosquitto.conf.before-chuong" "$DESTDIR$BROKER_ETC/mosquitto.conf"
  fi
  if [ "$purge" -eq 1 ]; then
    rm -rf "$DESTDIR$ETC" "$DESTDIR$STATE" "$DESTDIR$CREDENTIALS"
    if [ -z "$DESTDIR" ] && getent passwd "$USER_NAME" >/dev/null; then userdel "$USER_NAME"; fi
    say "chuong removed, with its data, configuration and user."
  else
    say "chuong removed. Kept: $ETC, $STATE (the store), $CREDENTIALS and the user $USER_NAME;"
    say "--uninstall --purge removes them too."
  fi
  if [ "$live" -eq 1 ]; then systemctl daemon-reload; systemctl try-restart mosquitto || true; fi
  exit 0
fi

# -- System packages (a real install only: a tree for tests uses what the machine has) --------------
if [ -z "$DESTDIR" ]; then
  "$SRC/scripts/system-deps.sh" python3-venv mosquitto mosquitto-clients alsa-utils
fi

# -- The service's user ------------------------------------------------------------------------------
if ! getent passwd "$USER_NAME" >/dev/null; then
  useradd --system --user-group --home-dir "$STATE" --no-create-home \
    --shell /usr/sbin/nologin "$USER_NAME"
fi
for group in dialout audio; do
  if getent group "$group" >/dev/null; then usermod --append --groups "$group" "$USER_NAME"; fi
done

# -- The code: its own venv, root's, read-only to the service -------------------------------------------
install -d -o root -g root -m 0755 "$DESTDIR$OPT"
[ -x "$DESTDIR$VENV/bin/python" ] || "$PYTHON" -m venv "$DESTDIR$VENV"
# setuptools packs whatever an earlier build left in build/, a module since removed included.
rm -rf "$SRC/build"
"$DESTDIR$VENV/bin/python" -m pip install --quiet --upgrade "$SRC"
install -o root -g root -m 0644 "$SRC/README.md" "$DESTDIR$OPT/README.md"
rm -rf "$DESTDIR$OPT/docs" "$DESTDIR$OPT/config"
cp -r "$SRC/docs" "$SRC/config" "$DESTDIR$OPT/"
# The siren the example escalation plays (config/escalation.example.toml, [notifiers.loa]).
"$DESTDIR$VENV/bin/python" -m hub.notify.siren "$DESTDIR$SOUNDS/siren.wav"
install -d -m 0755 "$DESTDIR/usr/local/bin"
cat > "$DESTDIR/usr/local/bin/chuong.new" <<EOF
#!/bin/sh
# The post's chuong, with the post's configuration (installed by scripts/install-post.sh).
export CHUONG_CONFIG="\${CHUONG_CONFIG:-$DESTDIR$ETC/hub.toml}"
exec $DESTDIR$VENV/bin/chuong "\$@"
EOF
chmod 0755 "$DESTDIR/usr/local/bin/chuong.new"
mv "$DESTDIR/usr/local/bin/chuong.new" "$DESTDIR/usr/local/bin/chuong"

# -- Configuration: readable by the service's group, by nobody else ------------------------------------
install -d -o root -g "$USER_NAME" -m 0750 "$DESTDIR$ETC"
if [ ! -e "$DESTDIR$ETC/hub.toml" ]; then
  install -o root -g "$USER_NAME" -m 0640 "$SRC/config/hub.example.toml" "$DESTDIR$ETC/hub.toml"
fi
chown root:"$USER_NAME" "$DESTDIR$ETC/hub.toml" && chmod 0640 "$DESTDIR$ETC/hub.toml"

# -- State: the service's own --------------------------------------------------------------------------
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$DESTDIR$STATE"

# -- The broker: the post's config, and a password for the hub -----------------------------------------
install -d -m 0755 "$DESTDIR$BROKER_ETC" "$DESTDIR$BROKER_ETC/conf.d"
if [ -f "$DESTDIR$BROKER_ETC/mosquitto.conf" ] && [ ! -e "$DESTDIR$BROKER_ETC/mosquitto.conf.before-chuong" ] \
   && ! cmp -s "$SRC/config/mosquitto/mosquitto.conf" "$DESTDIR$BROKER_ETC/mosquitto.conf"; then
  cp -p "$DESTDIR$BROKER_ETC/mosquitto.conf" "$DESTDIR$BROKER_ETC/mosquitto.conf.before-chuong"
fi
install -o root -g root -m 0644 "$SRC/config/mosquitto/mosquitto.conf" "$DESTDIR$BROKER_ETC/mosquitto.conf"
# The password file and the ACL the config names; a re-run keeps every password.
if ! out=$(CHUONG_CONFIG="$DESTDIR$ETC/hub.toml" CHUONG_STORE__PATH="$DESTDIR$STATE/chuong.db" \
    "$DESTDIR$VENV/bin/chuong" registry credentials --dir "$DESTDIR$CREDENTIALS" 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
password_of() {  # a user's password in credentials.toml
  "$DESTDIR$VENV/bin/python" - "$DESTDIR$CREDENTIALS/credentials.toml" "$1" <<'EOF'
import sys, tomllib
print(tomllib.load(open(sys.argv[1], "rb"))["users"][sys.argv[2]])
EOF
}
# hub.env: the hub's login and its telemetry connection's. Written whole under a private temporary
# name, then renamed. Kept on upgrade, except that a hub.env from before the telemetry connection
# gets its password added (the rest unchanged).
env_file=$DESTDIR$ETC/hub.env
if [ ! -e "$env_file" ] || ! grep -q '^CHUONG_MQTT__TELEMETRY_PASSWORD=' "$env_file"; then
  umask 077
  if [ -e "$env_file" ]; then
    cat "$env_file" > "$env_file.new"
    if [ -n "$(tail -c1 "$env_file")" ]; then echo >> "$env_file.new"; fi
  else
    printf '# The hub'"'"'s broker logins (scripts/install-post.sh); root:%s 0640.\nCHUONG_MQTT__USERNAME=%s\nCHUONG_MQTT__PASSWORD=%s\n' \
      "$USER_NAME" "$HUB_BROKER_USER" "$(password_of "$HUB_BROKER_USER")" > "$env_file.new"
  fi
  printf '# Its telemetry connection (the heartbeats; user %s): docs/BROKER.md.\nCHUONG_MQTT__TELEMETRY_PASSWORD=%s\n' \
    "$HUB_TELEMETRY_USER" "$(password_of "$HUB_TELEMETRY_USER")" >> "$env_file.new"
  umask 022
  mv "$env_file.new" "$env_file"
fi
chown root:"$USER_NAME" "$DESTDIR$ETC/hub.env" && chmod 0640 "$DESTDIR$ETC/hub.env"

# -- The units ------------------------------------------------------------------------------------------
install -d -m 0755 "$DESTDIR/etc/systemd/system/mosquitto.service.d"
install -o root -g root -m 0644 "$SRC/systemd/chuong-hub.service" \
  "$DESTDIR/etc/systemd/system/chuong-hub.service"
install -o root -g root -m 0644 "$SRC/systemd/mosquitto.service.d/chuong.conf" \
  "$DESTDIR/etc/systemd/system/mosquitto.service.d/chuong.conf"

if [ "$live" -eq 1 ]; then
  systemctl daemon-reload
  systemctl restart mosquitto || say "mosquitto did not start: journalctl -u mosquitto"
  systemctl enable chuong-hub.service
  systemctl restart chuong-hub.service || say "chuong-hub did not start: journalctl -u chuong-hub"
fi

say "chuong is installed in $DESTDIR$OPT (the service: chuong-hub; the broker: mosquitto)."
say "Left to do (docs/INSTALL.md):"
say "  1. edit $ETC/hub.toml: hub.id, hub.name, hub.public_url, the notifiers and the escalation;"
say "     then: chuong check-config && systemctl restart chuong-hub"
say "  2. the sites and buttons: chuong registry import registry.toml"
say "  3. the buttons' broker passwords: chuong registry credentials --dir $CREDENTIALS"
say "     && systemctl reload mosquitto   (passwords in $CREDENTIALS/credentials.toml)"
say "  4. the people: chuong user add --username NAME --role officer|viewer|admin"
