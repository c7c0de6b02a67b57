// Inputs of the peers benchmark (bench/peers-bench.mjs): what it needs (checked, never installed), the A/B slots (loop
// devices when losetup works, else files: Mender then cannot run), the U-Boot environment, one random image and the
// same image as a Mender artifact, a signed SWUpdate .swu and a signed fota package. Idea from /work/shared/peers.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MiB } from './report.mjs';

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
const has = (cmd) => {
  try {
    run('sh', ['-c', 'command -v "$1"', 'sh', cmd]);
    return true;
  } catch {
    return false;
  }
};

/** marker in the two system files the peers read from fixed paths: only files carrying it are replaced or removed */
export const MARK = 'fota-peers-bench';
export const FW_ENV_CONFIG = '/etc/fw_env.config';
const ARTIFACT_INFO = '/etc/mender/artifact_info';
/** commands each tool needs, and the Debian package that has them */
const NEEDS = {
  common: { mosquitto: 'mosquitto', curl: 'curl', openssl: 'openssl', dd: 'coreutils', fw_printenv: 'libubootenv-tool', fw_setenv: 'libubootenv-tool', mkenvimage: 'u-boot-tools' },
  mender: { mender: 'mender-client', 'mender-artifact': 'mender-artifact' },
  swupdate: { swupdate: 'swupdate', cpio: 'cpio' },
};

/** The problems that stop the run (root, missing commands with the apt-get line, foreign system files); [] when none. */
export function checkNeeds(tools) {
  const problems = [];
  if (process.platform !== 'linux') return ['this benchmark reads /proc and drives Linux tools: run it on Linux'];
  if (process.getuid?.() !== 0) problems.push('run it as root: the peers write slot block devices, /etc/fw_env.config and /etc/mender/artifact_info');
  const missing = new Map();
  for (const group of ['common', ...tools.filter((t) => NEEDS[t])]) for (const [cmd, pkg] of Object.entries(NEEDS[group])) if (!has(cmd)) missing.set(cmd, pkg);
  if (missing.size) problems.push(`missing ${[...missing.keys()].join(', ')}: apt-get install ${[...new Set(missing.values())].join(' ')} (or leave those tools out with TOOLS=...)`);
  for (const f of [FW_ENV_CONFIG, ARTIFACT_INFO]) {
    if (existsSync(f) && !readFileSync(f, 'utf8').includes(MARK)) problems.push(`${f} exists and was not written by this benchmark: it belongs to this machine, move it away first (never run this on a device)`);
  }
  return problems;
}

/**
 * Slots A and B: sparse files under `dir`, attached as loop devices with direct I/O when losetup works (Mender 3.4
 * sizes its target with BLKGETSIZE64 and refuses a regular file). Mender reads the partition number from the name,
 * so dir/dev/rootfs2 (A) and rootfs3 (B) link to them. Returns { a, b, kind, detach() }.
 */
export function makeSlots(dir, bytes) {
  const dev = path.join(dir, 'dev');
  mkdirSync(dev, { recursive: true });
  const files = ['A', 'B'].map((n) => path.join(dir, `slot-${n}.img`));
  for (const f of files) run('truncate', ['-s', String(bytes), f]);
  const loops = [];
  try {
    for (const f of files) loops.push(run('losetup', ['-f', '--show', '--direct-io=on', f]).trim());
  } catch (e) {
    for (const l of loops) run('losetup', ['-d', l]);
    loops.length = 0;
    process.stderr.write(`[peers] losetup failed (${String(e.stderr ?? e.message).trim()}): slots are plain files, Mender cannot run\n`);
  }
  const targets = loops.length ? loops : files;
  const [a, b] = ['rootfs2', 'rootfs3'].map((n, i) => {
    const link = path.join(dev, n);
    symlinkSync(targets[i], link);
    return link;
  });
  return { a, b, kind: loops.length ? 'loop device (direct I/O)' : 'file', files, detach: () => loops.forEach((l) => run('losetup', ['-d', l])) };
}

/** A 16 KiB single-copy U-Boot environment in `dir` and /etc/fw_env.config (marked) pointing at it. */
export function makeEnv(dir) {
  const text = path.join(dir, 'env.txt');
  writeFileSync(text, ['bootcmd=echo fota peers bench: file-backed env, never booted', 'boot_slot=A', 'boot_part=A', 'mender_boot_part=2', 'mender_boot_part_hex=2', 'upgrade_available=0', 'bootcount=0', ''].join('\n'));
  const env = path.join(dir, 'uboot.env');
  const pristine = `${env}.pristine`;
  run('mkenvimage', ['-s', '0x4000', '-o', pristine, text]);
  writeFileSync(FW_ENV_CONFIG, `# ${MARK}: written by bench/peers-bench.mjs, removed at its end\n${env} 0x0 0x4000\n`);
  const reset = () => writeFileSync(env, readFileSync(pristine));
  reset();
  return { env, reset, print: () => run('fw_printenv', []) };
}

/** Removes the system files this benchmark wrote (only when they carry its marker). */
export function removeSystemFiles() {
  for (const f of [FW_ENV_CONFIG, ARTIFACT_INFO]) {
    try {
      if (readFileSync(f, 'utf8').includes(MARK)) unlinkSync(f);
    } catch {
      // not there
    }
  }
}

/** Mender 3.4 standalone: configuration, device type, artifact_info, and the `mount` shim (slot A shown as /). */
export function setupMender(dir, slots) {
  const conf = path.join(dir, 'mender.conf');
  const data = path.join(dir, 'mender-data');
  const fakebin = path.join(dir, 'fakebin');
  mkdirSync(data, { recursive: true });
  mkdirSync(fakebin, { recursive: true });
  writeFileSync(conf, JSON.stringify({ RootfsPartA: slots.a, RootfsPartB: slots.b, DeviceTypeFile: path.join(data, 'device_type'), ServerURL: 'http://127.0.0.1:1', UpdatePollIntervalSeconds: 1800, InventoryPollIntervalSeconds: 28800, RetryPollIntervalSeconds: 300 }));
  writeFileSync(path.join(dir, 'fallback.conf'), '{}');
  writeFileSync(path.join(data, 'device_type'), 'device_type=fwbench\n');
  mkdirSync(path.dirname(ARTIFACT_INFO), { recursive: true });
  writeFileSync(ARTIFACT_INFO, `artifact_name=fwbench-initial\n# ${MARK}\n`);
  // mender finds the active slot by parsing `mount` for "/"; here "/" is the machine's disk: only for mender,
  // only the no-argument form, show slot A as "/"
  const shim = path.join(fakebin, 'mount');
  writeFileSync(shim, `#!/bin/sh\nif [ $# -eq 0 ]; then /bin/mount | sed -E 's#^[^ ]+ on / type#${slots.a} on / type#'; else exec /bin/mount "$@"; fi\n`, { mode: 0o755 });
  return { conf, fallback: path.join(dir, 'fallback.conf'), data, fakebin, reset: () => rmSync(path.join(data, 'mender-store'), { force: true }) };
}

/**
 * One random image of `mib` MiB and its packages for each tool in `www`: .bin (pipeline), .mender (uncompressed),
 * .swu (cpio: sw-description signed with a fresh self-signed key, raw handler streamed into slot B, bootenv
 * boot_slot=B), .fota (`fota pack`, Ed25519). Returns { bin, sha256, mender?, swu?, fota, cert?, pub }.
 */
export function makeImages({ www, keys, mib, tools, slotB, fotaBin }) {
  mkdirSync(www, { recursive: true });
  mkdirSync(keys, { recursive: true });
  const bin = path.join(www, `image-${mib}M.bin`);
  run('sh', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'sh', String(mib * MiB), bin]);
  const sha256 = run('openssl', ['dgst', '-sha256', '-r', bin]).split(' ')[0];
  const out = { bin, sha256 };
  if (!existsSync(path.join(keys, 'fota.key'))) run(process.execPath, [fotaBin, 'keygen', '-o', path.join(keys, 'fota')]);
  out.pub = path.join(keys, 'fota.pub');
  out.fota = path.join(www, `image-${mib}M.fota`);
  run(process.execPath, [fotaBin, 'pack', '--image', bin, '--version', '2.0.0', '--device-type', 'fwbench', '--key', path.join(keys, 'fota.key'), '-o', out.fota]);
  if (tools.includes('mender')) {
    out.mender = path.join(www, `image-${mib}M.mender`);
    run('mender-artifact', ['write', 'rootfs-image', '--compression', 'none', '--no-progress', '-n', `fwbench-${mib}M`, '-t', 'fwbench', '-f', bin, '-o', out.mender]);
  }
  if (tools.includes('swupdate')) {
    out.cert = path.join(keys, 'swu-cert.pem');
    const key = path.join(keys, 'swu-key.pem');
    if (!existsSync(out.cert)) {
      run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', out.cert, '-days', '30', '-subj', '/O=fwbench/CN=fwbench-swu', '-addext', 'extendedKeyUsage=emailProtection', '-addext', 'keyUsage=digitalSignature']);
    }
    const t = path.join(www, `swu-${mib}`);
    mkdirSync(t, { recursive: true });
    symlinkSync(bin, path.join(t, 'rootfs.img'));
    writeFileSync(path.join(t, 'sw-description'), `software =\n{\n\tversion = "1.0.0";\n\thardware-compatibility = [ "1.0" ];\n\timages: (\n\t\t{\n\t\t\tfilename = "rootfs.img";\n\t\t\tdevice = "${slotB}";\n\t\t\ttype = "raw";\n\t\t\tsha256 = "${sha256}";\n\t\t\tinstalled-directly = true;\n\t\t}\n\t);\n\tbootenv: (\n\t\t{ name = "boot_slot"; value = "B"; },\n\t\t{ name = "upgrade_available"; value = "1"; },\n\t\t{ name = "bootcount"; value = "0"; }\n\t);\n}\n`);
    run('openssl', ['cms', '-sign', '-in', path.join(t, 'sw-description'), '-out', path.join(t, 'sw-description.sig'), '-signer', out.cert, '-inkey', key, '-outform', 'DER', '-nosmimecap', '-binary']);
    out.swu = path.join(www, `image-${mib}M.swu`);
    // cpio -L stores the image's bytes behind the symlink; the names are fixed, no input reaches the shell text
    run('sh', ['-c', 'cd "$1" && printf "%s\\n" sw-description sw-description.sig rootfs.img | cpio -o -H crc -L --quiet > "$2"', 'sh', t, out.swu]);
    rmSync(t, { recursive: true });
  }
  return out;
}
