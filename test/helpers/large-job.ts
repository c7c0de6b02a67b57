// A fleet job larger than one page of GET /v1/jobs/:id (1,500 devices in mixed statuses), written straight to a
// FakeJobService's store as the runner would, and the counts it must show.

import type { JobStatus } from '../../hub/jobs/job-model.js';
import type { FakeJobService } from './fake-job-service.js';

export const LARGE_N = 1500;
export const LARGE_DEVICES = Array.from({ length: LARGE_N }, (_, i) => `d-${String(i).padStart(4, '0')}`);
/** each device's status by its index mod 10: 4 queued, 2 running, 1 failed, 2 completed, 1 cancelled */
export const LARGE_STATUS_AT: readonly JobStatus[] = ['Queued', 'Queued', 'Queued', 'Queued', 'Running', 'Running', 'Failed', 'Completed', 'Completed', 'Cancelled'];
export const LARGE_COUNTS: Readonly<Record<JobStatus, number>> = { Queued: 600, Running: 300, Failed: 150, Completed: 300, Cancelled: 150 };

/** Schedules `jobId` on LARGE_DEVICES and moves them to LARGE_STATUS_AT (the parent Running). */
export function seedLargeJob(s: FakeJobService, jobId = 'big'): void {
  s.schedule({ jobId, type: 'reboot', deviceIds: LARGE_DEVICES, parameters: { timeoutSeconds: 60 } });
  s.store.batch(() => {
    s.store.update(jobId, { Status: 'Running' });
    LARGE_DEVICES.forEach((d, i) => {
      const status = LARGE_STATUS_AT[i % 10] as JobStatus;
      if (status === 'Queued') return;
      if (status !== 'Cancelled') s.store.update(`${jobId}~${d}`, { Status: 'Running', Progress: 40, StatusMessage: 'rebooting' });
      if (status !== 'Running') s.store.update(`${jobId}~${d}`, { Status: status });
    });
  });
}
