// The one table from error codes to LwM2M Object 5 Update Result (OMA LwM2M 1.1, resource 5/0/5).
// Exhaustive by construction: adding an ErrorCode without a row here does not compile.

import { UpdateResult, type UpdateResultValue } from '../../protocol/lwm2m.js';
import type { ErrorCode } from './errors.js';

export const UPDATE_RESULT_FOR = {
  'no-space': UpdateResult.NotEnoughSpace,
  'out-of-memory': UpdateResult.OutOfRam,
  'connection-lost': UpdateResult.ConnectionLost,
  'server-error': UpdateResult.ConnectionLost,
  stalled: UpdateResult.ConnectionLost,
  'too-slow': UpdateResult.ConnectionLost,
  'integrity-mismatch': UpdateResult.IntegrityFailure,
  'signature-invalid': UpdateResult.IntegrityFailure,
  'unsigned-package': UpdateResult.UnsupportedPackage,
  'untrusted-key': UpdateResult.UnsupportedPackage,
  'unsupported-package': UpdateResult.UnsupportedPackage,
  'incompatible-device': UpdateResult.UnsupportedPackage,
  'downgrade-refused': UpdateResult.UnsupportedPackage,
  'invalid-uri': UpdateResult.InvalidUri,
  'not-found': UpdateResult.InvalidUri,
  'unsupported-scheme': UpdateResult.UnsupportedProtocol,
  'activation-failed': UpdateResult.UpdateFailed,
  'health-check-failed': UpdateResult.UpdateFailed,
  'boot-failed': UpdateResult.UpdateFailed,
  'commit-failed': UpdateResult.UpdateFailed,
  unsupported: UpdateResult.UpdateFailed,
  'io-error': UpdateResult.UpdateFailed,
} as const satisfies Record<ErrorCode, UpdateResultValue>;

export function updateResultFor(code: ErrorCode): UpdateResultValue {
  return UPDATE_RESULT_FOR[code];
}
