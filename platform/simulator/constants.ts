// Constants of the simulated device: the agent's "reboot" exit code, file names in the device folder, defaults.
// Pure: no IO.

/** The agent exits with this code to ask the simulated device (sim-runner) for a reboot. */
export const SIM_REBOOT_EXIT_CODE = 3;

/** Device type a simulated device reports unless told otherwise. */
export const SIM_DEVICE_TYPE = 'fota-sim';

/** Size of one copy of the simulated U-Boot environment (two copies: a redundant environment). */
export const SIM_ENV_SIZE = 0x4000;

/** Default slot capacity: slot files are sparse, so a generous size costs no disk until written. */
export const SIM_DEFAULT_SLOT_CAPACITY = 256 * 1024 * 1024;

/** Default size of the image generated for slot A on first use. */
export const SIM_DEFAULT_IMAGE_SIZE = 4 * 1024 * 1024;

/** Files of a device folder. */
export const SIM_FILES = {
  device: 'device.json',
  slotA: 'slot-a.img',
  slotB: 'slot-b.img',
  env: 'uboot.env',
  fwEnvConfig: 'fw_env.config',
  factory: 'factory.img',
  bootRecord: 'run/boot.json',
  agentConfig: 'agent.json',
  state: 'state',
} as const;
