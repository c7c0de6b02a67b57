// What every view of the dashboard gets, and gives back: mount it into the page, unmount it when the operator
// leaves it (its live handlers and timers go with it).

import type { Live } from './live.js';

export interface ViewContext {
  live: Live;
  /** the hash route after the view's name: "#jobs/fw-1" → ["fw-1"] */
  args: string[];
  navigate(hash: string): void;
}

/** Builds the view into `root`; returns what undoes it. */
export type View = (root: HTMLElement, ctx: ViewContext) => () => void;

/** Runs `fn` at most once per `ms` (the last call wins; trailing). */
export function throttle(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: number | undefined;
  let last = 0;
  const call = () => {
    if (timer !== undefined) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = window.setTimeout(() => {
      timer = undefined;
      last = Date.now();
      fn();
    }, wait);
  };
  call.cancel = () => clearTimeout(timer);
  return call;
}
