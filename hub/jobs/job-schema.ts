// The job table's schema and row mapping (JobStore's storage side): the append-only migrations, stamped with
// application_id and user_version, the SQL row shape and the row ↔ JobRecord mapping. migrate() runs on the caller's db.

import type Database from 'better-sqlite3';
import { JobStoreError, type JobLogEntry, type JobParameters, type JobPatch, type JobRecord, type JobStatus, type JobType } from './job-model.js';

/** "fota" in ASCII, in the file header: refuses to migrate some other application's SQLite file. */
const APPLICATION_ID = 0x666f7461;
// One entry per schema version; entry i migrates version i to i + 1. Never edit a released entry: append.
// No CHECK on type/status: adding a job type must not need a table rebuild; the code validates them.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY,
     job_id TEXT NOT NULL UNIQUE,
     parent_job_id TEXT NOT NULL,
     device_id TEXT NOT NULL,
     type TEXT NOT NULL,
     status TEXT NOT NULL,
     status_message TEXT NOT NULL DEFAULT '',
     created_time INTEGER NOT NULL,
     start_time INTEGER,
     end_time INTEGER,
     progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
     timed_out INTEGER NOT NULL DEFAULT 0 CHECK (timed_out IN (0, 1)),
     update_result INTEGER CHECK (update_result BETWEEN 0 AND 10),
     error_code TEXT,
     firmware_version_before TEXT,
     firmware_version_after TEXT,
     values_json TEXT,
     parameters_json TEXT NOT NULL,
     log_json TEXT NOT NULL DEFAULT '[]'
   ) STRICT;
   CREATE INDEX jobs_parent ON jobs (parent_job_id, status);
   CREATE INDEX jobs_device ON jobs (device_id, created_time);
   CREATE INDEX jobs_status ON jobs (status, created_time);
   CREATE INDEX jobs_type_start ON jobs (type, start_time);
   CREATE INDEX jobs_start ON jobs (start_time);
   CREATE INDEX jobs_created ON jobs (created_time);`,
  // 2: a page of a parent's children in creation order (GET /v1/jobs/:id, `fota job show --wait`), with or without
  // a status, straight from an index: without them SQLite sorted every child per page, or walked jobs_status
  // through the whole history's Completed rows (11 ms at 100k jobs, growing with it)
  `DROP INDEX jobs_parent;
   CREATE INDEX jobs_parent_status ON jobs (parent_job_id, status, created_time);
   CREATE INDEX jobs_parent_created ON jobs (parent_job_id, created_time);`,
];
/** the schema version this hub writes (SQLite user_version) */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The column each JobPatch field writes. */
export const PATCH_COLUMNS: Readonly<Record<keyof JobPatch, string>> = {
  Status: 'status', StatusMessage: 'status_message', Progress: 'progress', TimedOut: 'timed_out',
  UpdateResult: 'update_result', ErrorCode: 'error_code', FirmwareVersionBefore: 'firmware_version_before',
  FirmwareVersionAfter: 'firmware_version_after', Values: 'values_json',
};

/** A row of the jobs table as better-sqlite3 returns it. */
export interface Row {
  seq: number; job_id: string; parent_job_id: string; device_id: string; type: string; status: string;
  status_message: string; created_time: number; start_time: number | null; end_time: number | null;
  progress: number; timed_out: number; update_result: number | null; error_code: string | null;
  firmware_version_before: string | null; firmware_version_after: string | null; values_json: string | null;
  parameters_json: string; log_json: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** The JobRecord of a row: ms epochs become ISO 8601 times, JSON columns are parsed. */
export function toRecord(r: Row): JobRecord {
  const log = JSON.parse(r.log_json) as { t: number; step: string; detail?: string }[];
  return {
    JobId: r.job_id, ParentJobId: r.parent_job_id, DeviceId: r.device_id,
    Type: r.type as JobType, Status: r.status as JobStatus, StatusMessage: r.status_message,
    CreatedTime: iso(r.created_time), StartTime: isoOrNull(r.start_time), EndTime: isoOrNull(r.end_time),
    Progress: r.progress, TimedOut: r.timed_out === 1,
    UpdateResult: r.update_result as JobRecord['UpdateResult'], ErrorCode: r.error_code,
    FirmwareVersionBefore: r.firmware_version_before, FirmwareVersionAfter: r.firmware_version_after,
    Values: r.values_json === null ? null : (JSON.parse(r.values_json) as JobRecord['Values']),
    Parameters: JSON.parse(r.parameters_json) as JobParameters,
    Log: log.map((e): JobLogEntry => (e.detail === undefined ? { time: iso(e.t), step: e.step } : { time: iso(e.t), step: e.step, detail: e.detail })),
  };
}

/**
 * Brings the database at `path` (named in messages) to SCHEMA_VERSION in one immediate transaction. Throws
 * JobStoreError('storage') for another application's file or a newer schema; SQLite errors pass through.
 */
export function migrate(db: Database.Database, path: string): void {
  // a current database needs no write lock (another process may hold it while the hub starts)
  const current = db.pragma('user_version', { simple: true }) === MIGRATIONS.length && db.pragma('application_id', { simple: true }) === APPLICATION_ID;
  if (current) return;
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    const appId = db.pragma('application_id', { simple: true }) as number;
    if (version > 0 && appId !== APPLICATION_ID) throw new JobStoreError('storage', `${path} is not a fota job database (application_id ${appId}); point the hub at another file`);
    const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
    if (version === 0 && tables > 0) throw new JobStoreError('storage', `${path} already holds tables of another application; point the hub at another file`);
    if (version > MIGRATIONS.length) throw new JobStoreError('storage', `${path} has job schema ${version}, newer than this hub understands (${MIGRATIONS.length}); upgrade the hub`);
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] as string);
    if (version < MIGRATIONS.length) {
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
    }
  }).immediate();
}
