#!/bin/sh
# The board's side of install.sh, sent over SSH (POSIX sh: dash, busybox ash). install.sh validates every
# argument (platform name, tool names, numbers, flags) before it puts one on a command line; none is a secret.
#   check PLATFORM TOOLS PAYLOAD_KIB      read-only checks, as the login user
#   access                                root or passwordless sudo? (before --uninstall)
#   install DIR PLATFORM FORCE DRY CLIENT as root; DIR holds the staged files (DRY=1: print the steps, change nothing)
#   uninstall DRY                         as root (DRY=1: print the steps, change nothing)
set -u

NODE_MIN=18.18.0
PREFIX=/opt/fota
CONF_DIR=/etc/fota
CONF=$CONF_DIR/agent.json
UNIT=fota-agent.service
UNIT_FILE=/etc/systemd/system/$UNIT
STATE_DIR=/var/lib/fota-agent
RECORD=$PREFIX/installed-files
# the device-side commands (fota-agent status, …) on the PATH
WRAPPER=/usr/local/bin/fota-agent
# systemd's fixed search path for a bare ExecStart= name, and the PATH the agent's own children get
SYSTEMD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

failed=0
ok() { printf '  ok    %-10s %s\n' "$1" "$2"; }
info() { printf '  info  %-10s %s\n' "$1" "$2"; }
bad() {
  printf '  FAIL  %-10s %s\n              what to do: %s\n' "$1" "$2" "$3"
  failed=1
}
# a failed step of the installation itself: name it, say what to do, stop
die() {
  printf 'install.sh: step "%s" failed on %s: %s\n  what to do: %s\n' "$1" "$(hostname)" "$2" "$3" >&2
  exit 1
}
step() { printf '==> %s\n' "$1"; }

find_node() {
  NODE=''
  for d in $(echo "$SYSTEMD_PATH" | tr ':' ' '); do
    if [ -x "$d/node" ]; then NODE=$d/node; return; fi
  done
}

# ver_ge A B: A >= B for dotted versions
ver_ge() {
  a1=$(echo "$1" | cut -d. -f1); a2=$(echo "$1" | cut -d. -f2); a3=$(echo "$1" | cut -d. -f3)
  b1=$(echo "$2" | cut -d. -f1); b2=$(echo "$2" | cut -d. -f2); b3=$(echo "$2" | cut -d. -f3)
  [ "${a1:-0}" -gt "${b1:-0}" ] && return 0; [ "${a1:-0}" -lt "${b1:-0}" ] && return 1
  [ "${a2:-0}" -gt "${b2:-0}" ] && return 0; [ "${a2:-0}" -lt "${b2:-0}" ] && return 1
  [ "${a3:-0}" -ge "${b3:-0}" ]
}

# how to get Node >= 18.18 on this OS (Debian bookworm, and so Raspberry Pi OS bookworm, ships 18.19/18.20)
node_hint() {
  ID='' VERSION_CODENAME=''
  [ -r /etc/os-release ] && . /etc/os-release
  case "$ID:$VERSION_CODENAME" in
    debian:bookworm | raspbian:bookworm | debian:trixie | raspbian:trixie | debian:forky | debian:sid | ubuntu:noble | ubuntu:oracular | ubuntu:plucky)
      echo "sudo apt-get install nodejs ($ID $VERSION_CODENAME ships a Node >= 18.18)" ;;
    debian:* | raspbian:*)
      echo "$ID $VERSION_CODENAME ships a Node older than 18: upgrade the OS to bookworm, or unpack an official Node >= 18.18 build (https://nodejs.org/en/download) into /usr/local" ;;
    ubuntu:*)
      echo "Ubuntu $VERSION_CODENAME ships a Node older than 18: use 24.04 or newer, or an official Node >= 18.18 build in /usr/local (https://nodejs.org/en/download)" ;;
    *)
      echo "install Node.js >= 18.18 where systemd finds it (/usr/bin/node or /usr/local/bin/node): your distribution's nodejs package or https://nodejs.org/en/download" ;;
  esac
}

tool_hint() {
  case "$1" in
    *fw_printenv* | *fw_setenv*) echo "sudo apt-get install libubootenv-tool (and an /etc/fw_env.config for this board: docs/platforms.md)" ;;
    *grub-editenv* | *grub2-editenv*) echo "sudo apt-get install grub-common" ;;
    mdir | mtype | mcopy | mmove) echo "sudo apt-get install mtools" ;;
    *) echo "install $1" ;;
  esac
}

# free KiB on the file system that holds $1 (or its nearest existing parent)
free_kib() {
  p=$1
  while [ ! -e "$p" ]; do p=$(dirname "$p"); done
  df -Pk "$p" | awk 'NR==2 { print $4 }'
}

check_access() {
  if [ "$(id -u)" -eq 0 ]; then ok access "root"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then ok access "$(id -un) with sudo"
  else bad access "$(id -un) is not root and cannot run sudo without a password" "log in as root (--user root), or give $(id -un) passwordless sudo: echo '$(id -un) ALL=(ALL) NOPASSWD: ALL' | sudo tee /etc/sudoers.d/010-fota"
  fi
  return $failed
}

do_check() {
  platform=$1 tools=$2 payload_kib=$3
  echo "Checking $(hostname) ($(uname -m)) for platform $platform:"
  check_access

  # the bundle is plain JavaScript: any architecture Node runs on (manifest.json nativeAddons is empty)
  ok arch "$(uname -m)"

  if [ -d /run/systemd/system ] && PATH=$SYSTEMD_PATH command -v systemctl >/dev/null 2>&1; then
    ok systemd "$(PATH=$SYSTEMD_PATH systemctl --version 2>/dev/null | head -n 1)"
  else
    bad systemd "systemd is not the init system here (no /run/systemd/system)" "the agent runs as a systemd service: use a systemd-based OS (Raspberry Pi OS, Debian, Ubuntu)"
  fi

  find_node
  if [ -z "$NODE" ]; then
    elsewhere=$(command -v node 2>/dev/null || true)
    if [ -n "$elsewhere" ]; then
      bad node "node is at $elsewhere, where systemd does not look ($SYSTEMD_PATH)" "link it: sudo ln -s $elsewhere /usr/local/bin/node (or $(node_hint))"
    else
      bad node "Node.js is not installed" "$(node_hint)"
    fi
  else
    v=$("$NODE" -p process.versions.node 2>/dev/null || true)
    if [ -z "$v" ]; then bad node "$NODE does not run" "$(node_hint)"
    elif ver_ge "$v" "$NODE_MIN"; then ok node "Node $v at $NODE"
    else bad node "Node $v at $NODE is older than $NODE_MIN" "$(node_hint)"
    fi
  fi

  if [ "$tools" != "-" ]; then
    for t in $(echo "$tools" | tr ',' ' '); do
      if p=$(PATH=$SYSTEMD_PATH command -v "$t" 2>/dev/null); then ok tools "$t at $p"
      else bad tools "$t is missing (platform $platform needs it)" "$(tool_hint "$t")"
      fi
    done
  fi

  # the new bundle beside the old one during an upgrade, plus a margin
  need=$((payload_kib * 2 + 1024))
  for d in $PREFIX /var/tmp $STATE_DIR; do
    f=$(free_kib "$d")
    if [ "$f" -ge "$need" ]; then ok space "$d: $((f / 1024)) MiB free"
    else bad space "$d has $f KiB free, the agent needs $need KiB" "free some space on the file system of $d"
    fi
  done

  if [ -f "$PREFIX/manifest.json" ]; then
    info state "fota is installed (version $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$PREFIX/manifest.json")): this run upgrades it in place"
  fi
  if [ -e "$CONF" ]; then info state "$CONF exists: it is kept unless --force"; fi
  return $failed
}

# run DESCRIPTION COMMAND...: prints the step; under --dry-run prints what it would do and does nothing
run() {
  d=$1; shift
  if [ "$DRY" = 1 ]; then printf '  would: %s\n' "$d"; return 0; fi
  step "$d"
  "$@"
}

# an address as a URL host: IPv6 in brackets
url_host() {
  case "$1" in *:*) echo "[$1]" ;; *) echo "$1" ;; esac
}

# the starter configuration for a first install without --config: this host, the broker on the machine that runs
# install.sh (the SSH client's address), the platform, and the keys install.sh installs
starter_config() {
  keys=''
  for k in "$DIR"/keys/*.pub; do
    [ -e "$k" ] || continue
    keys="$keys${keys:+, }\"$CONF_DIR/keys/$(basename "$k")\""
  done
  cat <<EOF
{
  "deviceId": "$(hostname)",
  "broker": { "url": "mqtt://$(url_host "${CLIENT:-127.0.0.1}"):1883" },
  "platform": { "name": "$PLATFORM", "options": {} },
  "trustedKeys": [$keys]
}
EOF
}

do_install() {
  DIR=$1 PLATFORM=$2 FORCE=$3 DRY=$4 CLIENT=$5
  PATH=$SYSTEMD_PATH
  export PATH
  # 1. everything that could refuse, before anything changes
  added=''
  for k in "$DIR"/keys/*.pub; do
    [ -e "$k" ] || continue
    dest=$CONF_DIR/keys/$(basename "$k")
    if [ -e "$dest" ] && ! cmp -s "$k" "$dest" && [ "$FORCE" != 1 ]; then
      die keys "$dest exists with another key" "remove it, or run again with --force to replace it"
    fi
  done
  if [ -e "$DIR/agent.json" ] && [ -e "$CONF" ] && ! cmp -s "$DIR/agent.json" "$CONF" && [ "$FORCE" != 1 ]; then
    die configuration "$CONF exists and differs from the --config file" "run again with --force to replace it (the old one is kept as $CONF.old), or without --config to keep it"
  fi
  new_conf='' starter=''
  if [ -e "$DIR/agent.json" ]; then new_conf=$DIR/agent.json
  elif [ ! -e "$CONF" ]; then
    new_conf=$DIR/starter.json starter=1
    starter_config >"$new_conf"
    info config "no configuration on the board and no --config: writing a starter one (device $(hostname), broker mqtt://$(url_host "${CLIENT:-127.0.0.1}"):1883)"
  fi
  find_node

  # 2. the keys the configuration names, then the configuration checked by the new agent itself
  for k in "$DIR"/keys/*.pub; do
    [ -e "$k" ] || continue
    dest=$CONF_DIR/keys/$(basename "$k")
    [ -e "$dest" ] && cmp -s "$k" "$dest" && continue
    [ -e "$dest" ] || added="$added $dest"
    run "install trusted key $dest" install -D -m 0644 "$k" "$dest" || die keys "cannot write $dest" "check that $CONF_DIR is writable"
  done
  check_conf=${new_conf:-$CONF}
  if [ "$DRY" = 1 ]; then printf '  would: check the configuration with the new agent (fota-agent --check)\n'
  else
    step "check the configuration with the new agent"
    if ! out=$("$NODE" "$DIR/fota-agent.mjs" --config "$check_conf" --check 2>&1); then
      for f in $added; do rm -f "$f"; done
      rmdir "$CONF_DIR/keys" "$CONF_DIR" 2>/dev/null || true
      if [ "$check_conf" = "$CONF" ]; then
        die configuration "$out" "fix $CONF (docs/configuration.md), or replace it: --config FILE --force; nothing was changed"
      elif [ -n "$starter" ]; then
        printf 'The starter configuration, to complete and pass with --config FILE:\n' >&2
        sed 's/^/    /' "$check_conf" >&2
        die configuration "the starter configuration is not enough for this board: $(echo "$out" | sed "s|$check_conf|it|")" "complete it (docs/configuration.md, docs/platforms.md) and pass it with --config FILE, with --trusted-key for the keys packages are signed with; nothing was changed"
      else
        die configuration "$(echo "$out" | sed "s|$check_conf|the --config file|")" "fix the file (docs/configuration.md) and run install.sh again; nothing was changed"
      fi
    fi
    echo "    $out"
  fi

  # 3. the files, each replaced atomically (a power cut leaves the old or the new, never half)
  run "install the agent in $PREFIX" sh -c 'install -d -m 0755 "$2" && install -m 0644 "$1/fota-agent.mjs" "$2/.fota-agent.mjs.new" && mv -f "$2/.fota-agent.mjs.new" "$2/fota-agent.mjs" && install -m 0644 "$1/manifest.json" "$2/manifest.json"' sh "$DIR" "$PREFIX" ||
    die agent "cannot write $PREFIX" "check the file system of $PREFIX (read-only? full?)"
  if [ -n "$new_conf" ]; then
    if [ -e "$CONF" ] && ! cmp -s "$new_conf" "$CONF" 2>/dev/null; then run "keep the old configuration as $CONF.old" cp -p "$CONF" "$CONF.old"; fi
    # 0600: it may hold the broker password
    run "install the configuration $CONF" install -D -m 0600 "$new_conf" "$CONF" || die configuration "cannot write $CONF" "check that $CONF_DIR is writable"
  elif [ "$DRY" = 1 ]; then printf '  would: keep %s\n' "$CONF"
  else step "keep $CONF"
  fi
  run "install the unit $UNIT_FILE" install -D -m 0644 "$DIR/fota-agent.service" "$UNIT_FILE" || die unit "cannot write $UNIT_FILE" "check that /etc/systemd/system is writable"
  # one of ours, or none: a fota-agent someone else put there (npm link) is left alone
  wrapper=''
  if [ ! -e "$WRAPPER" ] || grep -qx "$WRAPPER" "$RECORD" 2>/dev/null; then
    wrapper=$WRAPPER
    run "install $WRAPPER (fota-agent status, …)" sh -c 'printf "#!/bin/sh\n# fota-agent commands on this board (installed by fota install.sh)\nexec node %s/fota-agent.mjs \"\$@\"\n" "$2" >"$1.new" && chmod 0755 "$1.new" && mv -f "$1.new" "$1"' sh "$WRAPPER" "$PREFIX" ||
      die agent "cannot write $WRAPPER" "check that /usr/local/bin is writable"
  fi

  # 4. what install.sh put here, so that --uninstall removes exactly that
  if [ "$DRY" != 1 ]; then
    {
      [ -f "$RECORD" ] && cat "$RECORD"
      echo "$UNIT_FILE"
      [ -n "$wrapper" ] && echo "$WRAPPER"
      [ -n "$new_conf" ] && echo "$CONF"
      for f in $added; do echo "$f"; done
    } | sort -u >"$DIR/record" && install -m 0644 "$DIR/record" "$RECORD"
  fi

  # 5. systemd: Type=notify, so restart returns once the agent said READY=1 (or failed)
  run "systemctl daemon-reload" systemctl daemon-reload || die systemd "systemctl daemon-reload failed" "look at: journalctl -b -u systemd"
  run "systemctl enable $UNIT" systemctl enable --quiet "$UNIT" || die systemd "cannot enable $UNIT" "systemctl enable $UNIT prints why"
  if ! run "systemctl restart $UNIT (waits for READY=1)" systemctl restart "$UNIT"; then
    systemctl status --no-pager --lines=20 "$UNIT" 2>&1 | sed 's/^/    /'
    die start "$UNIT did not become ready" "read the log: journalctl -u fota-agent -n 50; fix, then: sudo systemctl restart fota-agent"
  fi
  [ "$DRY" = 1 ] && return 0
  state=$(systemctl is-active "$UNIT" 2>/dev/null || true)
  [ "$state" = active ] || die start "$UNIT is $state" "read the log: journalctl -u fota-agent -n 50"
  echo "fota-agent is $state: $(systemctl show -p StatusText --value "$UNIT" 2>/dev/null)"
}

do_uninstall() {
  DRY=$1
  PATH=$SYSTEMD_PATH
  export PATH
  if [ ! -f "$RECORD" ] && [ ! -e "$UNIT_FILE" ] && [ ! -e "$PREFIX" ]; then
    echo "nothing to remove: fota was not installed here by install.sh"
    return 0
  fi
  run "systemctl disable --now $UNIT" sh -c 'systemctl disable --now --quiet "$1" 2>/dev/null || true' sh "$UNIT"
  files=''
  [ -f "$RECORD" ] && files=$(cat "$RECORD")
  for f in $files; do
    case "$f" in
      "$UNIT_FILE" | "$CONF" | "$WRAPPER" | "$CONF_DIR"/keys/*) [ -e "$f" ] && run "remove $f" rm -f "$f" ;;
    esac
  done
  [ -e "$UNIT_FILE" ] && run "remove $UNIT_FILE" rm -f "$UNIT_FILE"
  [ "$DRY" = 1 ] || rmdir "$CONF_DIR/keys" "$CONF_DIR" 2>/dev/null || true
  run "remove $PREFIX" rm -rf "$PREFIX"
  run "systemctl daemon-reload" systemctl daemon-reload
  [ -e "$CONF" ] && ! echo "$files" | grep -qx "$CONF" && echo "kept $CONF: install.sh did not write it"
  [ -e "$STATE_DIR" ] && echo "kept $STATE_DIR (the agent's state, made by systemd, not by install.sh): remove it with sudo rm -rf $STATE_DIR"
  return 0
}

mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
  check) do_check "$@" ;;
  access) check_access ;;
  install) do_install "$@" ;;
  uninstall) do_uninstall "$@" ;;
  *) echo "usage: install-target.sh check|install|uninstall ARGS (run by install.sh)" >&2; exit 64 ;;
esac
