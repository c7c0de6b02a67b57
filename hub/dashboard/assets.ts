// The dashboard's browser code and style, built by `npm run build` (scripts/build.mjs, esbuild) into
// dist/dashboard/, read once when the hub starts and served from memory. Nothing is ever loaded from elsewhere.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface Asset {
  body: Buffer;
  type: string;
  /** a strong ETag: the content's hash */
  etag: string;
}

const FILES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * The built assets by file name, or the reason there are none. Looks next to the running bundle (dist/fota.mjs →
 * dist/dashboard/) and, when the hub runs from its sources (tests), in the checkout's dist/dashboard/.
 */
export function loadAssets(): { assets: Map<string, Asset> } | { missing: string } {
  const places = [new URL('./dashboard/', import.meta.url), new URL('../../dist/dashboard/', import.meta.url)];
  for (const dir of places) {
    try {
      const assets = new Map<string, Asset>();
      for (const [name, type] of Object.entries(FILES)) {
        const body = readFileSync(new URL(name, dir));
        assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
      }
      return { assets };
    } catch {
      // not here: try the next place
    }
  }
  return { missing: 'the dashboard is not built (dist/dashboard/ is missing): run `npm run build`' };
}
