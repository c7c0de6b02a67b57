# fota A/B boot script for a U-Boot with saveenv and setexpr (docs/platforms.md). Build it with
#   mkimage -A arm64 -T script -C none -d fota-boot.cmd boot.scr
# and put boot.scr where distro_bootcmd finds it. Adapt the partition numbers, device and load commands to the board.
# The variables (boot_part, upgrade_available, bootcount, bootlimit, altbootcmd) are fota's own convention.
# Count trial boots, fall back after bootlimit, tell the kernel which slot it is.
if test -z "${boot_part}"; then setenv boot_part A; fi
if test -z "${bootlimit}"; then setenv bootlimit 3; fi
if test "${upgrade_available}" = "1"; then
  if test -z "${bootcount}"; then setenv bootcount 0; fi
  setexpr bootcount ${bootcount} + 1
  if test ${bootcount} -gt ${bootlimit}; then
    echo "fota: slot ${boot_part} used up ${bootlimit} trial boots; falling back"
    run altbootcmd
  fi
  saveenv
fi
if test "${boot_part}" = "B"; then setenv fota_part 3; else setenv fota_part 2; fi
setenv bootargs "console=${console} root=/dev/mmcblk0p${fota_part} rootwait ro panic=2 fota.slot=${boot_part} ${extra_bootargs}"
load mmc 0:${fota_part} ${kernel_addr_r} /boot/Image
load mmc 0:${fota_part} ${fdt_addr_r} /boot/${fdtfile}
booti ${kernel_addr_r} - ${fdt_addr_r}
# a load or boot failure: reset; during a trial that counts as a failed boot
reset
