#!/bin/sh
# mmdebstrap --customize-hook for the virtual board's rootfs ($1 = the new root). Runs after the packages are
# installed: the board's own settings, as a Raspberry Pi OS image would carry them (hostname, networking, the
# U-Boot environment location, the data partition, the firmware version), and what keeps boots short under TCG.
set -eu
R="$1"
# the U-Boot environment: two redundant copies on the disk itself (boot.cmd reads and writes the same places)
printf '/dev/vda 0x80000 0x4000\n/dev/vda 0x84000 0x4000\n' > "$R/etc/fw_env.config"
echo fota-hil > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tfota-hil\n' > "$R/etc/hosts"
# DHCP from QEMU's user network (10.0.2.15, no default route in restricted mode)
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n' > "$R/etc/systemd/network/10-hil.network"
# /data: the partition updates never touch (the agent's state lives there)
mkdir -p "$R/data"
printf '/dev/vda4\t/data\text4\tdefaults,nofail\t0\t2\n' > "$R/etc/fstab"
mkdir -p "$R/etc/fota"
echo 1.0.0 > "$R/etc/fota/firmware-version"
# the hardware watchdog (QEMU's i6300esb): systemd pets it and the board resets when systemd itself hangs
mkdir -p "$R/etc/systemd/system.conf.d"
printf '[Manager]\nRuntimeWatchdogSec=20s\nRebootWatchdogSec=2min\n' > "$R/etc/systemd/system.conf.d/watchdog.conf"
# stable names for U-Boot's load (the /vmlinuz symlinks point into /boot with the kernel version in the name)
cp -L "$R/vmlinuz" "$R/boot/vmlinuz"
cp -L "$R/initrd.img" "$R/boot/initrd.img"
# root logs in with the test's key only (Debian's default PermitRootLogin prohibit-password)
chmod 700 "$R/root/.ssh"
chmod 600 "$R/root/.ssh/authorized_keys"
chroot "$R" systemctl enable systemd-networkd.service >/dev/null 2>&1
# nothing that waits for a network that is not there, and no periodic jobs during tests
chroot "$R" systemctl mask systemd-networkd-wait-online.service e2scrub_reap.service apt-daily.timer \
  apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer >/dev/null 2>&1
