// LwM2M paths: "/obj", "/obj/inst", "/obj/inst/res". Pure parsing and formatting.

export interface LwPath {
  readonly object: number;
  readonly instance?: number;
  readonly resource?: number;
}

const PATH_RE = /^\/(\d{1,5})(?:\/(\d{1,5})(?:\/(\d{1,5}))?)?$/;

/** Parses "/5/0/1". Returns undefined for anything else (ids are 0..65535 per LwM2M). */
export function parsePath(text: string): LwPath | undefined {
  const m = PATH_RE.exec(text);
  if (!m) return undefined;
  const ids = [m[1], m[2], m[3]].map((s) => (s === undefined ? undefined : Number(s)));
  if (ids.some((n) => n !== undefined && n > 65535)) return undefined;
  const [object, instance, resource] = ids as [number, number | undefined, number | undefined];
  if (instance === undefined) return { object };
  if (resource === undefined) return { object, instance };
  return { object, instance, resource };
}

export function formatPath(p: LwPath): string {
  let s = `/${p.object}`;
  if (p.instance !== undefined) s += `/${p.instance}`;
  if (p.instance !== undefined && p.resource !== undefined) s += `/${p.resource}`;
  return s;
}

/** True when `inner` is `outer` or lies below it ("/5/0/3" is within "/5" and "/5/0"). */
export function pathWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer + '/');
}
