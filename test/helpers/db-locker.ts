// Another process holding a SQLite database's write lock (BEGIN IMMEDIATE), as a backup tool or an operator's
// sqlite3 shell would: a real second process, so the hub under test meets real file locks, not a fake store.

import { spawn } from 'node:child_process';
import { ROOT } from './sim-device.js';

export interface DbLocker {
  /** commits and ends the locking process */
  release(): Promise<void>;
}

/** Takes the write lock on `db` and holds it until `release()` (or `maxMs`, a safety net). */
export async function lockDatabase(db: string, maxMs = 120_000): Promise<DbLocker> {
  const script = `
    const Database = require(${JSON.stringify(`${ROOT}node_modules/better-sqlite3`)});
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 10000');
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    const end = () => { db.exec('COMMIT'); db.close(); process.exit(0); };
    process.stdin.on('data', end);
    process.stdin.on('end', end);
    setTimeout(end, ${maxMs});
  `;
  const child = spawn(process.execPath, ['-e', script, db], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the database locker exited with ${code} before it held the lock`)));
  });
  return {
    release: async () => {
      if (child.exitCode === null) child.stdin.end('go\n');
      await exited;
    },
  };
}
