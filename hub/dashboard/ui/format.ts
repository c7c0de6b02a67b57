// How the dashboard writes times, results and states. Pure: no DOM.

import { UPDATE_RESULT_TEXT, type UpdateResultValue } from '../../../protocol/lwm2m.js';

/** "14:03:22" today, "2024-06-01 14:03" otherwise (local time); "—" for none. */
export function when(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '—';
  const pad = (n: number) => String(n).padStart(2, '0');
  const hms = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  const today = new Date(now);
  if (t.toDateString() === today.toDateString()) return hms;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${hms.slice(0, 5)}`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return 'never';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** "8 (firmware update failed)"; "" for null. */
export function resultText(result: number | null | undefined): string {
  if (result === null || result === undefined) return '';
  return `${result} (${UPDATE_RESULT_TEXT[result as UpdateResultValue] ?? 'unknown'})`;
}

/** Update Result values with their LwM2M meaning, for selects. */
export const RESULT_OPTIONS: readonly (readonly [string, string])[] = Object.entries(UPDATE_RESULT_TEXT).map(([k, v]) => [k, `${k} ${v}`] as const);

/** A job id like the CLI generates: "fw-20261127-163045" (UTC). */
export function generatedJobId(now = new Date()): string {
  const t = now.toISOString();
  return `fw-${t.slice(0, 10).replace(/-/g, '')}-${t.slice(11, 19).replace(/:/g, '')}`;
}

/** Device ids from free text: commas, spaces or new lines between them; empty parts dropped. */
export function deviceIdsOf(text: string): string[] {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter((s) => s !== '');
}
