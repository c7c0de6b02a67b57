#!/usr/bin/env bash
# install.sh: installs, upgrades or removes the fota agent on a board over SSH (docs/installation.md).
# Checks the board first and changes nothing when a check fails; then one tar stream over one SSH connection
# (ControlMaster) carries the agent, and scripts/install-target.sh does the rest on the board. No secret ever goes
# on a command line (process lists are readable): the configuration travels inside the tar stream.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARTIFACT=${FOTA_AGENT_ARTIFACT:-$HERE/dist/agent}
TARGET_SCRIPT=$HERE/scripts/install-target.sh

usage() {
  cat <<'EOF'
Usage: ./install.sh [options] [USER@]HOST

Installs the fota agent on a board over SSH as the systemd service fota-agent: checks the board, copies the agent
(npm run build:agent) to /opt/fota, its configuration to /etc/fota/agent.json, the unit to
/etc/systemd/system/fota-agent.service, enables and starts it, and waits until the agent says READY=1.
A second run upgrades in place and restarts the agent.

Options:
  --user U            log in as U (default: USER@ in HOST, else your ssh configuration's)
  --port P            SSH port (default 22)
  --identity KEY      SSH private key to log in with
  --config FILE       the agent configuration to install (docs/configuration.md); an existing one on the board is
                      kept unless --force. Without it and without one on the board, a starter configuration is
                      written: device id = the board's hostname, broker = this machine's address, port 1883
  --platform NAME     the board backend (default: the configuration's platform.name, else uboot); decides which
                      tools the board must have (uboot: fw_printenv, fw_setenv)
  --trusted-key FILE  a public key packages are signed with (fota keygen), installed as /etc/fota/keys/NAME.pub;
                      repeatable. A starter configuration trusts the keys given here
  --ssh-config FILE   use this ssh_config instead of ~/.ssh/config
  --dry-run           run the checks and print every step without changing anything on the board
  --uninstall         remove what install.sh installed (the agent, the unit, the configuration and keys it wrote);
                      the agent's state in /var/lib/fota-agent is kept
  --force             replace an existing configuration (the old one is kept as agent.json.old) or key
  -h, --help          this text

The login user must be root or have passwordless sudo. Exit status: 0 done, 1 a check or a step failed, 2 usage.
EOF
}

die_usage() {
  echo "install.sh: $1" >&2
  echo "Run ./install.sh --help for the options." >&2
  exit 2
}
fail() {
  printf 'install.sh: step "%s" failed: %s\n  what to do: %s\n' "$1" "$2" "$3" >&2
  exit 1
}

user='' port=22 identity='' config='' platform='' ssh_config='' dry=0 uninstall=0 force=0 host=''
keys=()
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die_usage "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --user) need_arg "$@"; user=$2; shift 2 ;;
    --port) need_arg "$@"; port=$2; shift 2 ;;
    --identity) need_arg "$@"; identity=$2; shift 2 ;;
    --config) need_arg "$@"; config=$2; shift 2 ;;
    --platform) need_arg "$@"; platform=$2; shift 2 ;;
    --trusted-key) need_arg "$@"; keys+=("$2"); shift 2 ;;
    --ssh-config) need_arg "$@"; ssh_config=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die_usage "unknown option $1" ;;
    *) [ -z "$host" ] || die_usage "one HOST only (got $host and $1)"; host=$1; shift ;;
  esac
done
[ -n "$host" ] || die_usage "which board? Give its HOST, e.g. ./install.sh pi@raspberrypi.local"
command -v node >/dev/null || die_usage "install.sh needs Node.js on this machine (as the fota source tree does)"

# every value that reaches the board's command line is checked here: nothing else gets there
if [[ $host == *@* ]]; then
  [ -n "$user" ] || user=${host%%@*}
  host=${host#*@}
fi
[[ $host =~ ^[A-Za-z0-9._:-]+$ ]] || die_usage "HOST \"$host\" is not a host name or address"
[ -z "$user" ] || [[ $user =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ ]] || die_usage "--user \"$user\" is not a user name"
[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die_usage "--port must be a number from 1 to 65535"
[ -z "$identity" ] || [ -r "$identity" ] || die_usage "--identity $identity: no such readable file"
[ -z "$ssh_config" ] || [ -r "$ssh_config" ] || die_usage "--ssh-config $ssh_config: no such readable file"
for k in "${keys[@]+"${keys[@]}"}"; do
  [ -r "$k" ] || die_usage "--trusted-key $k: no such readable file"
  [[ $(basename "$k") =~ ^[A-Za-z0-9._-]+\.pub$ ]] || die_usage "--trusted-key $k: the file name must end in .pub and use only letters, digits, . _ -"
done

# the platform decides the board tools to check (scripts/board-tools.mjs): the configuration's, else --platform's
conf_platform=''
if [ -n "$config" ]; then
  [ -r "$config" ] || die_usage "--config $config: no such readable file"
  command -v node >/dev/null || die_usage "reading --config needs Node.js on this machine"
  read -r conf_platform tools < <(node "$HERE/scripts/board-tools.mjs" "$config") || die_usage "--config $config is not valid JSON"
  if [ -n "$platform" ] && [ "$platform" != "$conf_platform" ]; then
    die_usage "--platform $platform differs from platform.name \"$conf_platform\" in $config"
  fi
fi
platform=${platform:-${conf_platform:-uboot}}
[[ $platform =~ ^[a-z0-9][a-z0-9-]*$ ]] || die_usage "--platform \"$platform\" is not a platform name"
[ -n "$config" ] || read -r _ tools < <(node "$HERE/scripts/board-tools.mjs" --platform "$platform")
[[ $tools =~ ^[A-Za-z0-9_./+,-]+$ ]] || die_usage "the tools named in $config (fwPrintenv, fwSetenv, grubEditenv, rebootCommand, …) must be plain paths"

if [ "$uninstall" = 0 ]; then
  for f in fota-agent.mjs fota-agent.service manifest.json; do
    [ -r "$ARTIFACT/$f" ] || fail build "$ARTIFACT/$f is missing" "run npm run build:agent first"
  done
fi
[ -r "$TARGET_SCRIPT" ] || fail build "$TARGET_SCRIPT is missing" "run install.sh from the fota source tree"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fota-install.XXXXXX")
ctl=$tmp/ssh
target=${user:+$user@}$host
ssh_opts=(-p "$port" -o ControlPath="$ctl" -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4)
[ -z "$identity" ] || ssh_opts+=(-i "$identity" -o IdentitiesOnly=yes)
[ -z "$ssh_config" ] || ssh_opts=(-F "$ssh_config" "${ssh_opts[@]}")
cleanup() {
  ssh "${ssh_opts[@]}" -O exit "$target" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
on_board() { ssh "${ssh_opts[@]}" -o ControlMaster=no "$target" "$@"; }
step() { printf '==> %s\n' "$1"; }

echo "fota install.sh → $target (port $port)$([ "$dry" = 1 ] && echo ', dry run: nothing will change')"
step "connect (one SSH connection for every step)"
if ! ssh "${ssh_opts[@]}" -o ControlMaster=yes -o ControlPersist=no -f -N "$target" 2>"$tmp/connect.err"; then
  fail connect "cannot log in to $target on port $port: $(tr '\n' ' ' <"$tmp/connect.err")" \
    "check that $host is up and reachable, sshd listens on port $port, and ${user:-your user} can log in with a key (--identity KEY)"
fi

if [ "$uninstall" = 1 ]; then
  on_board sh -s -- access <"$TARGET_SCRIPT" || fail check "the board refused the checks above" "follow the what-to-do lines above, then run install.sh again"
  step "remove fota from $host$([ "$dry" = 1 ] && echo ' (dry run)')"
  on_board "S=; [ \"\$(id -u)\" = 0 ] || S='sudo -n'; \$S sh -s -- uninstall $dry" <"$TARGET_SCRIPT" ||
    fail uninstall "the board could not remove fota (see above)" "fix what the lines above say, then run install.sh --uninstall again"
  exit 0
fi

# stage what the board receives: the artifact, the board's half of this script, the configuration, the keys
stage=$tmp/stage
mkdir -p "$stage/keys"
cp "$ARTIFACT/fota-agent.mjs" "$ARTIFACT/fota-agent.service" "$ARTIFACT/manifest.json" "$stage/"
cp "$TARGET_SCRIPT" "$stage/install-target.sh"
[ -z "$config" ] || cp "$config" "$stage/agent.json"
for k in "${keys[@]+"${keys[@]}"}"; do cp "$k" "$stage/keys/"; done
payload_kib=$(du -sk "$stage" | cut -f1)

on_board sh -s -- check "$platform" "$tools" "$payload_kib" <"$TARGET_SCRIPT" ||
  fail check "the board did not pass the checks above; nothing was changed" "follow the what-to-do lines above, then run install.sh again"

# the board's shell runs this fixed text; its only arguments are the validated values and the SSH client's
# address as the board sees it (the starter configuration's broker)
inner='d=$(mktemp -d /var/tmp/fota-install.XXXXXX) || exit 1; trap "rm -rf -- \"$d\"" EXIT HUP INT TERM; tar -xf - -C "$d" && sh "$d/install-target.sh" install "$d" "$@"'
remote="S=; [ \"\$(id -u)\" = 0 ] || S='sudo -n'; \$S sh -c '$inner' sh $platform $force $dry \"\${SSH_CONNECTION%% *}\""
step "copy $(find "$stage" -type f | wc -l | tr -d ' ') files ($payload_kib KiB) in one tar stream$([ "$dry" = 1 ] && echo ' to a temporary folder, removed after the dry run')"
tar -C "$stage" -cf - . | on_board "$remote" ||
  fail install "the installation on the board stopped (see above)" "fix what the lines above say, then run install.sh again (it continues where it stopped)"

[ "$dry" = 1 ] && { echo "Dry run: nothing was changed on $host."; exit 0; }
ssh_hint="ssh$([ "$port" = 22 ] || echo " -p $port") $target"
cat <<EOF
Installed. Follow the agent's log:   $ssh_hint journalctl -u fota-agent -f
           Its state at a glance:    $ssh_hint systemctl status fota-agent
EOF
