# fota A/B boot script: the U-Boot side of platform/uboot/ab-scheme.ts, run by Debian's u-boot-qemu (qemu-x86,
# U-Boot 2023.01) in the virtual board. That U-Boot has no saved environment (ENV_IS_NOWHERE) and no setexpr,
# so this script reads and writes the environment itself: two redundant copies (CONFIG_SYS_REDUNDAND_ENVIRONMENT
# layout, the /etc/fw_env.config the guest and the host use) at 0x80000 and 0x84000 of the disk, 0x4000 bytes each.
# Each copy is [CRC32 LE][flags][data 0x3ffb]; `env import -c` wants [CRC32][data], so the CRC is moved next to
# the data before importing, and moved back after `env export -c`. Temporaries are hush locals, never saved.
#
# Memory: copies at 0x8000000 (1) and 0x8010000 (2); [CRC][data] views at 0x8020000 / 0x8030000;
# export buffer 0x8040000; write buffer 0x8050000. Kernel at 0x1000000, initrd at 0xa000000 (the kernel needs
# 51 MiB from 16 MiB up to decompress itself: ramdisk_addr_r 0x4000000 would be overwritten).

echo "fota: boot script"
virtio read 0x8000000 0x400 0x20
virtio read 0x8010000 0x420 0x20
cp.b 0x8000000 0x8020000 4
cp.b 0x8000005 0x8020004 0x3ffb
cp.b 0x8010000 0x8030000 4
cp.b 0x8010005 0x8030004 0x3ffb
# a copy is valid when its CRC matches (importing no variable checks the CRC and changes nothing)
v1=0
v2=0
if env import -c 0x8020000 0x3fff fota_check_only; then v1=1; fi
if env import -c 0x8030000 0x3fff fota_check_only; then v2=1; fi
# the newer copy: higher flags, 0 after 255 (U-Boot's env_import_redund and libubootenv agree)
cur=0
if test ${v1} = 1 && test ${v2} = 1; then
  cur=1
  if itest.b *0x8000004 == 0xff && itest.b *0x8010004 == 0; then cur=2; fi
  if itest.b *0x8010004 > *0x8000004; then
    if itest.b *0x8010004 != 0xff || itest.b *0x8000004 != 0; then cur=2; fi
  fi
elif test ${v1} = 1; then cur=1
elif test ${v2} = 1; then cur=2
fi

dirty=0
if test ${cur} = 0; then
  echo "fota: no valid environment copy: booting slot A with the built-in defaults, saving nothing"
  setenv boot_part A
  setenv upgrade_available 0
else
  if test ${cur} = 1; then env import -d -c 0x8020000 0x3fff; else env import -d -c 0x8030000 0x3fff; fi
  echo "fota: environment copy ${cur}: boot_part=${boot_part} upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit}"
  if test -z "${bootlimit}"; then setenv bootlimit 3; fi
  if test "${upgrade_available}" = "1"; then
    # bootcount += 1 (no setexpr here; bootlimit is 1..8, so 0..8 is all a trial counts)
    if test -z "${bootcount}" || test "${bootcount}" = "0"; then setenv bootcount 1
    elif test "${bootcount}" = "1"; then setenv bootcount 2
    elif test "${bootcount}" = "2"; then setenv bootcount 3
    elif test "${bootcount}" = "3"; then setenv bootcount 4
    elif test "${bootcount}" = "4"; then setenv bootcount 5
    elif test "${bootcount}" = "5"; then setenv bootcount 6
    elif test "${bootcount}" = "6"; then setenv bootcount 7
    elif test "${bootcount}" = "7"; then setenv bootcount 8
    elif test "${bootcount}" = "8"; then setenv bootcount 9
    else setenv bootcount 99
    fi
    if test ${bootcount} -gt ${bootlimit}; then
      echo "fota: slot ${boot_part} used up ${bootlimit} trial boots; falling back"
      run altbootcmd
    else
      echo "fota: trial boot ${bootcount}/${bootlimit} of slot ${boot_part}"
    fi
    dirty=1
  fi
fi

if test ${dirty} = 1; then
  # saveenv: export [CRC][data], rebuild the [CRC][flags][data] layout, write the older copy first, then the
  # current one, each keeping its own flags: a power cut during either write leaves the other copy valid, and
  # the current copy stays the newer one for both U-Boot and libubootenv (which writes flags + 1 next time)
  env export -c -s 0x3fff 0x8040000
  cp.b 0x8040000 0x8050000 4
  cp.b 0x8040004 0x8050005 0x3ffb
  if test ${cur} = 1; then
    cp.b 0x8010004 0x8050004 1
    virtio write 0x8050000 0x420 0x20
    cp.b 0x8000004 0x8050004 1
    virtio write 0x8050000 0x400 0x20
  else
    cp.b 0x8000004 0x8050004 1
    virtio write 0x8050000 0x400 0x20
    cp.b 0x8010004 0x8050004 1
    virtio write 0x8050000 0x420 0x20
  fi
fi

if test "${boot_part}" = "B"; then part=3; else part=2; fi
echo "fota: booting slot ${boot_part} (/dev/vda${part})"
setenv bootargs "root=/dev/vda${part} rw console=ttyS0 panic=2 fota.slot=${boot_part} ${extra_bootargs}"
if load virtio 0:${part} 0x1000000 /boot/vmlinuz; then
  if load virtio 0:${part} 0xa000000 /boot/initrd.img; then
    zboot 0x1000000 0 0xa000000 ${filesize}
  fi
fi
# a load or boot failure: reset; during a trial that counts as a failed boot
echo "fota: slot ${boot_part} did not boot; resetting"
reset
