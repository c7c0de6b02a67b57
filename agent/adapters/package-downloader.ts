// Downloader port: an HTTP(S) package stream (survives connection loss) fed through the verifying installer into
// the inactive slot. After an agent restart it resumes from the last durable checkpoint when the server still
// serves the same bytes (If-Range), re-hashing what is already in the slot; otherwise it starts over.

import type { KeyObject } from 'node:crypto';
import { FotaError } from '../core/errors.js';
import type { Downloader, DownloadHooks, Logger, PackageInfo, PlatformAdapter, ResumeToken } from '../core/ports.js';
import type { VersionPolicy } from '../core/version-policy.js';
import { openFileStream } from './file-source.js';
import { openHttpStream, type HttpSourceOptions, type HttpStream } from './http-source.js';
import { reclaimNow } from './memory.js';
import { installPackage, resumePackage, type InstallOptions, type ResumePoint } from './package-install.js';

export interface PackageDownloaderOptions {
  http: Omit<HttpSourceOptions, 'signal' | 'onRetry'>;
  platform: PlatformAdapter;
  deviceType: string;
  trustedKeys: readonly KeyObject[];
  /** keyIds retired by the configuration (only to name them when a package is signed by one) */
  retiredKeyIds?: readonly string[];
  allowUnsigned: boolean;
  checkpointBytes: number;
  logger: Logger;
}

/** What the daemon persists for a resume: the installer's point plus where it came from. */
interface DownloadResume {
  uri: string;
  validator: string;
  point: ResumePoint;
}

function asResume(token: ResumeToken | undefined, uri: string): DownloadResume | undefined {
  if (!token || token.uri !== uri || typeof token.validator !== 'string' || token.validator === '') return undefined;
  const point = token.point as unknown as ResumePoint | undefined;
  if (!point || typeof point.payloadOffset !== 'number' || typeof point.written !== 'number' || typeof point.manifest !== 'string') return undefined;
  return { uri, validator: token.validator, point };
}

export class PackageDownloader implements Downloader {
  constructor(private readonly opts: PackageDownloaderOptions) {}

  async download(req: { uri: string; resume?: ResumeToken; policy?: VersionPolicy }, hooks: DownloadHooks): Promise<PackageInfo> {
    try {
      return await this.fetchAndInstall(req, hooks);
    } finally {
      // the idle agent does not carry this download's V8 garbage (the malloc heap it grew stays: memory.ts)
      reclaimNow();
    }
  }

  private async fetchAndInstall(req: { uri: string; resume?: ResumeToken; policy?: VersionPolicy }, hooks: DownloadHooks): Promise<PackageInfo> {
    const { opts } = this;
    const http = {
      ...opts.http,
      signal: hooks.signal,
      onRetry: (info: { attempt: number; delayMs: number; reason: string; offset: number }) => {
        opts.logger.warn('download interrupted, retrying', info);
        hooks.retrying?.(`${info.reason}; attempt ${info.attempt + 1} in ${Math.max(1, Math.round(info.delayMs / 1000))} s`);
      },
    };
    // file: URIs come only from the device-local control channel (fota-agent install FILE): Object 5 refuses them
    const open = (uri: string, o: { offset?: number; validator?: string }): Promise<HttpStream> =>
      /^file:/i.test(uri) ? openFileStream(uri, { ...o, signal: hooks.signal }) : openHttpStream(uri, { ...http, ...o });
    let validator = '';
    const install = (): InstallOptions => ({
      deviceType: opts.deviceType,
      trustedKeys: opts.trustedKeys,
      ...(opts.retiredKeyIds ? { retiredKeyIds: opts.retiredKeyIds } : {}),
      allowUnsigned: opts.allowUnsigned,
      slot: {
        capacity: () => opts.platform.inactiveSlotCapacity(),
        open: (o) => opts.platform.openInactiveSlot(o),
        read: (n) => opts.platform.readInactiveSlot(n),
      },
      progress: (written, total) => hooks.progress(written, total),
      // a checkpoint is only useful when the server gives us a validator to resume against
      checkpoint: (point) => {
        if (validator) hooks.checkpoint({ uri: req.uri, validator, point: point as unknown as ResumeToken });
      },
      checkpointBytes: opts.checkpointBytes,
      signal: hooks.signal,
      ...(req.policy ? { policy: req.policy } : {}),
    });

    const resume = asResume(req.resume, req.uri);
    if (resume) {
      const offset = resume.point.payloadOffset + resume.point.written;
      const stream = await open(req.uri, { offset, validator: resume.validator });
      validator = stream.etag ?? '';
      if (stream.start === 0) {
        opts.logger.info('the package changed on the server since the download began; starting over');
        return installPackage(stream, install());
      }
      try {
        if (stream.start === offset) {
          opts.logger.info('resuming the download', { offset, written: resume.point.written });
          return await resumePackage(stream, resume.point, install());
        }
      } catch (e) {
        // the bytes already in the slot did not re-verify: never trust them, start over
        if (!(e instanceof FotaError) || e.code !== 'integrity-mismatch') throw e;
        opts.logger.warn('the partial image did not re-verify; downloading again from the start', { reason: e.message });
      } finally {
        stream.close();
      }
    }
    const stream = await open(req.uri, {});
    validator = stream.etag ?? '';
    return installPackage(stream, install());
  }
}
