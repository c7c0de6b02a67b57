#!/bin/sh
# systemctl for the install.sh test board (test/helpers/ssh-target.ts), which cannot run systemd as PID 1: records
# every call in /var/log/fota-test/systemctl.log and keeps unit states in files. start/restart run the unit's
# ExecStart= with --check appended, so the installed Node, agent and configuration really run, and a bad one fails
# the start as under systemd. Type=notify, the watchdog and restarts are proven under real systemd in test/hil/.
log=/var/log/fota-test/systemctl.log
st=/var/lib/fota-test/systemd
mkdir -p "$st" "$(dirname "$log")"
echo "$*" >>"$log"
cmd='' unit='' now=0
for a in "$@"; do
  case "$a" in
    --now) now=1 ;;
    -*) ;;
    *) if [ -z "$cmd" ]; then cmd=$a; elif [ -z "$unit" ]; then unit=$a; fi ;;
  esac
done
# an administrator's unit in /etc wins over a package's in /lib, as in systemd (a mask is a link to /dev/null)
file=/etc/systemd/system/$unit
[ -f "$file" ] || [ -L "$file" ] || file=/lib/systemd/system/$unit
wants=/etc/systemd/system/multi-user.target.wants
state() { cat "$st/$unit" 2>/dev/null || echo inactive; }
case "$cmd" in
  --version | '') echo "systemd 252 (fake systemctl of the fota install tests)" ;;
  daemon-reload) ;;
  enable | preset)
    # preset: what deb-systemd-helper runs (--preset-mode=enable-only); Debian's preset policy enables
    [ -f "$file" ] || { echo "Failed to $cmd unit: Unit file $unit does not exist." >&2; exit 1; }
    mkdir -p "$wants" && ln -sf "$file" "$wants/$unit" ;;
  mask) ln -sf /dev/null "/etc/systemd/system/$unit" ;;
  unmask) [ "$(readlink "/etc/systemd/system/$unit")" = /dev/null ] && rm -f "/etc/systemd/system/$unit"; true ;;
  disable)
    rm -f "$wants/$unit"
    [ "$now" = 1 ] && echo inactive >"$st/$unit" ;;
  start | restart)
    [ -f "$file" ] || { echo "Failed to $cmd $unit: Unit $unit not found." >&2; exit 5; }
    exec_line=$(sed -n 's/^ExecStart=//p' "$file" | tail -n 1)
    envs=$(sed -n 's/^Environment=//p' "$file" | tr '\n' ' ')
    # systemd's search path for a bare executable name
    if PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin env $envs $exec_line --check >"$st/$unit.out" 2>&1; then
      echo active >"$st/$unit"
    else
      echo failed >"$st/$unit"
      echo "Job for $unit failed because the control process exited with error code." >&2
      exit 1
    fi ;;
  stop) echo inactive >"$st/$unit" ;;
  is-active) s=$(state); echo "$s"; [ "$s" = active ] ;;
  is-enabled) if [ -e "$wants/$unit" ]; then echo enabled; else echo disabled; exit 1; fi ;;
  show) echo "running: idle ($(cat "$st/$unit.out" 2>/dev/null))" ;;
  status) echo "* $unit - $(state)"; cat "$st/$unit.out" 2>/dev/null ;;
  *) echo "fake systemctl: $cmd is not faked" >&2; exit 1 ;;
esac
