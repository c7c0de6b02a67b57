#!/bin/sh
# The virtual board's customisation of the Debian tree mmdebstrap made ($1 = a copy of that root; build-image.ts
# runs it as root, with chroot for systemctl): the board's own settings, as a Raspberry Pi OS image would carry them (hostname, networking, the
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
# the agent's state must survive a slot switch, so /var/lib/fota-agent (the unit's StateDirectory) is the data
# partition's fota-agent folder, bind-mounted (Mender keeps /var/lib/mender on /data the same way; a symlink does
# not do: systemd 252 refuses a StateDirectory that is a symlink, "Failed to set up special execution directory").
# StateDirectory= makes the unit wait for this mount (RequiresMountsFor).
mkdir -p "$R/var/lib/fota-agent"
printf '/data/fota-agent\t/var/lib/fota-agent\tnone\tbind\t0\t0\n' >> "$R/etc/fstab"
# TCG on a shared 2-core host can be 10-50 times slower than a Raspberry Pi: the agent's first start (Node 18 with
# --jitless, connect, register, READY=1) can then take longer than the unit's TimeoutStartSec=90s. The virtual
# board gives it more time in a drop-in of its own (the unit itself stays the project's, as install.sh puts it).
mkdir -p "$R/etc/systemd/system/fota-agent.service.d"
printf '[Service]\nTimeoutStartSec=10min\n' > "$R/etc/systemd/system/fota-agent.service.d/hil-tcg.conf"
# a test instrument: fw_setenv that, while /var/lib/fota-agent/hil-gate exists, stops before writing (once: it removes the
# gate) and waits, so a test can cut the power between the slot write and the environment write
cat > "$R/usr/local/sbin/fw_setenv-hil" <<'GATE'
#!/bin/sh
if [ -e /var/lib/fota-agent/hil-gate ]; then
  rm -f /var/lib/fota-agent/hil-gate
  touch /var/lib/fota-agent/hil-gate-reached
  sync
  sleep 3600
fi
exec /usr/bin/fw_setenv "$@"
GATE
chmod 755 "$R/usr/local/sbin/fw_setenv-hil"
# the hardware watchdog (QEMU's i6300esb): systemd pets it and the board resets when systemd itself hangs
mkdir -p "$R/etc/systemd/system.conf.d"
printf '[Manager]\nRuntimeWatchdogSec=20s\nRebootWatchdogSec=2min\n' > "$R/etc/systemd/system.conf.d/watchdog.conf"
# Boot time under TCG (every fork and exec is expensive there): the initramfs loads the three modules that find the
# root file system and nothing else, without udev (the kernel's devtmpfs creates /dev/vda2 by itself; the real
# root's systemd-udevd coldplugs the rest). With udev and MODULES=most it took a third of the boot.
printf 'MODULES=list\nRESUME=none\n' > "$R/etc/initramfs-tools/conf.d/hil.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$R/etc/initramfs-tools/modules"
rm -f "$R/usr/share/initramfs-tools/hooks/udev" "$R/usr/share/initramfs-tools/scripts/init-top/udev" "$R/usr/share/initramfs-tools/scripts/init-bottom/udev"
rm -f "$R"/boot/initrd.img-*
chroot "$R" update-initramfs -c -k all >/dev/null 2>&1
# stable names for U-Boot's load (the /vmlinuz symlinks point into /boot with the kernel version in the name);
# hard links, not copies: 14 MB less in every slot image
ln -f "$(readlink -f "$R/vmlinuz")" "$R/boot/vmlinuz"
ln -f "$(readlink -f "$R/initrd.img")" "$R/boot/initrd.img"
# root logs in with the test's key only (Debian's default PermitRootLogin prohibit-password)
chmod 700 "$R/root/.ssh"
chmod 600 "$R/root/.ssh/authorized_keys"
chroot "$R" systemctl enable systemd-networkd.service >/dev/null 2>&1
# boot time under TCG: units a headless test board does not use. No logind: sshd runs without PAM below, and
# `systemctl reboot` falls back from logind to PID 1 (what the agent's reboot runs); the modprobe@ units load
# modules this kernel does not have (pruned above); no getty on the VGA console (-display none), only on ttyS0
chroot "$R" systemctl mask systemd-logind.service modprobe@efi_pstore.service modprobe@fuse.service \
  modprobe@loop.service modprobe@drm.service modprobe@dm_mod.service modprobe@configfs.service \
  systemd-pstore.service systemd-update-utmp.service systemd-update-utmp-runlevel.service getty@tty1.service >/dev/null 2>&1
chroot "$R" systemctl set-default multi-user.target >/dev/null 2>&1
# each SSH login would otherwise go through PAM, whose pam_systemd starts a systemd --user manager for root (seconds
# of TCG each time); the tests' key login needs none of it
printf 'UsePAM no\nPrintMotd no\nPrintLastLog no\n' > "$R/etc/ssh/sshd_config.d/hil.conf"
# the journal in RAM: fewer writes to the slot under TCG, and no journal files in the slot images made from it
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' > "$R/etc/systemd/journald.conf.d/hil.conf"
# nothing that waits for a network that is not there, and no periodic jobs during tests
chroot "$R" systemctl mask systemd-networkd-wait-online.service e2scrub_reap.service apt-daily.timer \
  apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer >/dev/null 2>&1
# smaller slots download, write and pack faster under TCG: perl (pulled in by adduser/debconf's Recommends of
# the full perl; the base system needs only perl-base), udev's hardware database (a VM needs none of it) and
# apt's caches and glibc's iconv modules go (305 MB → ~210 MB)
chroot "$R" dpkg --purge --force-depends perl libperl5.36 perl-modules-5.36 >/dev/null 2>&1
rm -rf "$R/usr/lib/x86_64-linux-gnu/gconv" "$R/usr/lib/udev/hwdb.bin" "$R/usr/lib/udev/hwdb.d" "$R/etc/udev/hwdb.bin" "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/*
