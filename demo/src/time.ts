/**
 * Human-readable times. HAM states (and the chat's `at`) are milliseconds since the
 * epoch; people read "2 min ago" or a local date and time, and find the raw number in
 * the tooltip. `<time data-at>` elements made by `timeElement` are refreshed every
 * 15 s by `keepTimesFresh`, so "just now" does not stay "just now".
 */
import { el } from './dom.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "42 s ago", "5 min ago", "3 h ago", else the local date and time; "in 2 min" for the future. */
export function relativeTime(ms: number, now = Date.now()): string {
  if (!Number.isFinite(ms)) return String(ms);
  const ago = now - ms;
  const abs = Math.abs(ago);
  const suffix = (text: string): string => (ago >= 0 ? `${text} ago` : `in ${text}`);
  if (abs < 5_000) return 'just now';
  if (abs < MINUTE) return suffix(`${Math.floor(abs / 1000)} s`);
  if (abs < HOUR) return suffix(`${Math.floor(abs / MINUTE)} min`);
  if (abs < DAY) return suffix(`${Math.floor(abs / HOUR)} h`);
  return localDateTime(ms);
}

/** The local date and time, e.g. "12/03/2025, 14:05:09" in the browser's locale. */
export function localDateTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toLocaleString();
}

/** The local time of day, e.g. "14:05". */
export function localTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * A `<time>` showing `ms` relative to now, with the local date/time and `raw` (the exact
 * state, for HAM) in its tooltip.
 */
export function timeElement(ms: number, attributes: Record<string, string> = {}, raw?: string): HTMLTimeElement {
  const date = new Date(ms);
  const valid = !Number.isNaN(date.getTime());
  const title = [valid ? localDateTime(ms) : undefined, raw === undefined ? undefined : `state ${raw}`].filter((x) => x !== undefined).join(' · ');
  return el('time', { ...attributes, ...(valid ? { datetime: date.toISOString() } : {}), title, 'data-at': String(ms) }, relativeTime(ms));
}

/** Refreshes the text of every `<time data-at>` on the page every 15 s. */
export function keepTimesFresh(): void {
  setInterval(() => {
    const now = Date.now();
    for (const time of document.querySelectorAll<HTMLTimeElement>('time[data-at]')) {
      const text = relativeTime(Number(time.dataset['at']), now);
      if (time.textContent !== text) time.textContent = text;
    }
  }, 15_000);
}
