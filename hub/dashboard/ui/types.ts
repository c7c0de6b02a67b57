// The shapes the dashboard reads from the hub's API (docs/hub-api.md): jobs, pages of jobs and of devices, events.
// Types only. The browser code imports nothing of the hub's server side (it would drag Node in).

export type JobStatus = 'Queued' | 'Running' | 'Completed' | 'Failed' | 'Cancelled';
export const JOB_STATUSES: readonly JobStatus[] = ['Queued', 'Running', 'Completed', 'Failed', 'Cancelled'];
export const JOB_TYPES = ['firmware-update', 'reboot', 'factory-reset', 'configuration-update', 'read-device-properties', 'write-device-properties'] as const;

export interface Job {
  JobId: string;
  ParentJobId: string;
  DeviceId: string;
  Type: string;
  Status: JobStatus;
  StatusMessage: string;
  CreatedTime: string;
  StartTime: string | null;
  EndTime: string | null;
  Progress: number;
  TimedOut: boolean;
  UpdateResult: number | null;
  ErrorCode: string | null;
  FirmwareVersionBefore: string | null;
  FirmwareVersionAfter: string | null;
  Parameters: object;
}

export interface JobPage {
  jobs: Job[];
  total: number;
  nextPage?: string;
}

export interface DeviceRow {
  deviceId: string;
  online: boolean | null;
  agentVersion: string;
  registeredAt: string | null;
  lastSeen: string;
  firmwareVersion: string;
  deviceType: string;
  model: string;
  faults: { code: number; reason: string }[];
  firmware: { state: number; stateText: string; updateResult: number; resultText: string; reason: string; code: string; progress: number; pkgVersion: string } | null;
  problem: string;
}

export interface DevicePage {
  devices: DeviceRow[];
  total: number;
  nextPage?: string;
  facets: { deviceTypes: { deviceType: string; devices: number }[]; online: number; offline: number; unknown: number; faulty: number; devices: number };
}

/** event "job": a fleet job changed (or one of its children): its record, its children's counts, summed progress */
export interface JobEvent {
  job: Job;
  counts: Record<JobStatus, number>;
  progress: number;
}
