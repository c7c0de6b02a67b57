// The virtual board's disk layout: one place for the builder, the QEMU harness and the host-side fw_env.config.
// MBR; the U-Boot environment at raw offsets before the first partition (boot.cmd reads blocks 0x400 and 0x420).

export const ENV = {
  /** two redundant copies (CONFIG_SYS_REDUNDAND_ENVIRONMENT layout), as in the guest's /etc/fw_env.config */
  offsets: [0x80000, 0x84000] as const,
  size: 0x4000,
};

const BOOT_START = 1;
const BOOT = 16;
const SLOT = 288;
const DATA = 64;

export const DISK = {
  bootStartMiB: BOOT_START,
  bootMiB: BOOT,
  slotMiB: SLOT,
  dataMiB: DATA,
  totalMiB: BOOT_START + BOOT + 2 * SLOT + DATA + 1,
  /** p1 boot (FAT, boot.scr), p2 slot A, p3 slot B, p4 /data */
  partitions(): { name: string; startMiB: number; sizeMiB: number }[] {
    const a = BOOT_START + BOOT;
    return [
      { name: 'boot', startMiB: BOOT_START, sizeMiB: BOOT },
      { name: 'A', startMiB: a, sizeMiB: SLOT },
      { name: 'B', startMiB: a + SLOT, sizeMiB: SLOT },
      { name: 'data', startMiB: a + 2 * SLOT, sizeMiB: DATA },
    ];
  },
};

/** A built image in the cache (read-only: each board runs on its own copy of disk.img). */
export interface HilImage {
  dir: string;
  disk: string;
  /** Debian's qemu-x86 U-Boot with the built-in defaults patched (build-image.ts, patchUBoot) */
  uboot: string;
  /** the private key root logs in with (id_ed25519.pub is in /root/.ssh/authorized_keys) */
  key: string;
  slotA: string;
}

/** fw_env.config for the host's fw_printenv/fw_setenv on a disk image file. */
export function hostFwEnvConfig(disk: string): string {
  return ENV.offsets.map((o) => `${disk} 0x${o.toString(16)} 0x${ENV.size.toString(16)}\n`).join('');
}
