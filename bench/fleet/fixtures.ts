// The bench's firmware package: an Ed25519 key pair (keygen), a simulated image of the new version
// (makeSimImage) and the signed package built from it (pack), all in one folder.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SIM_DEVICE_TYPE } from '../../platform/simulator/constants.js';
import { makeSimImage } from '../../platform/simulator/image-header.js';
import { keygen, loadPrivateKey, pack } from '../../cli/package/package-tools.js';

export interface BenchPackage {
  /** the package file name inside `dir` */
  file: string;
  /** firmware version the package installs */
  version: string;
  /** package size in bytes */
  bytes: number;
  /** PEM of the public key devices trust */
  publicKeyPem: string;
}

/** Builds a signed package of a `imageSize`-byte image of `version` in `dir`. Throws PackageToolError. */
export async function makePackage(dir: string, imageSize: number, version: string): Promise<BenchPackage> {
  const keys = await keygen(join(dir, 'release'), { force: true });
  const image = join(dir, `fleet-${version}.img`);
  await makeSimImage({ version, size: imageSize, out: image });
  const file = `fleet-${version}.fota`;
  const res = await pack({ image, out: join(dir, file), version, deviceTypes: [SIM_DEVICE_TYPE], key: await loadPrivateKey(keys.privateKey) });
  return { file, version, bytes: res.bytes, publicKeyPem: await readFile(keys.publicKey, 'utf8') };
}
