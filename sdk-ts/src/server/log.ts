/**
 * A tiny structured logger for `rustdht serve`: one line per event, either a JSON
 * object `{time, level, msg, ...fields}` (for log shippers: one record per line, no
 * parsing rules to agree on) or a human-readable line (for a terminal). No dependency:
 * the server logs a handful of lifecycle events, not a hot path worth a framework.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether `level` lines are written (to skip building costly fields). */
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  /** Lines below this level are dropped (default 'info'). */
  readonly level?: LogLevel;
  readonly format?: LogFormat;
  /** Receives each line, newline included (default: process.stdout). */
  readonly write?: (line: string) => void;
  readonly now?: () => Date;
  /** Pretty format only: colour the level with ANSI escapes (default false). */
  readonly color?: boolean;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const COLOR: Record<LogLevel, string> = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' };
const RESET = '\x1b[0m';

/** Errors have no enumerable properties, so JSON.stringify would log `{}` for them. */
function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? { name: value.name, message: value.message } : { name: value.name, code, message: value.message };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function jsonLine(time: Date, level: LogLevel, msg: string, fields: LogFields | undefined): string {
  // time/level/msg first for readability, and assigned again last so a field cannot overwrite them.
  const record = Object.assign({ time: time.toISOString(), level, msg }, fields, { time: time.toISOString(), level, msg });
  return JSON.stringify(record, (_key, value: unknown) => plain(value));
}

/** Bare when unambiguous (`peer=12D3…`), JSON-quoted when the value has spaces, quotes or `=`. */
function prettyValue(value: unknown): string {
  const v = plain(value);
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object' && 'message' in v) return JSON.stringify((v as { message: unknown }).message);
  return JSON.stringify(v, (_key, inner: unknown) => plain(inner)) ?? String(v);
}

function prettyLine(time: Date, level: LogLevel, msg: string, fields: LogFields | undefined, color: boolean): string {
  const clock = `${String(time.getHours()).padStart(2, '0')}:${String(time.getMinutes()).padStart(2, '0')}:${String(time.getSeconds()).padStart(2, '0')}.${String(time.getMilliseconds()).padStart(3, '0')}`;
  const name = level.toUpperCase().padEnd(5);
  let line = `${clock} ${color ? `${COLOR[level]}${name}${RESET}` : name} ${msg}`;
  for (const key in fields) {
    if (fields[key] !== undefined) line += ` ${key}=${prettyValue(fields[key])}`;
  }
  return line;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', format = 'json', now = () => new Date(), color = false } = options;
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const threshold = RANK[level];
  const log = (lineLevel: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lineLevel] < threshold) return;
    const time = now();
    write(`${format === 'json' ? jsonLine(time, lineLevel, msg, fields) : prettyLine(time, lineLevel, msg, fields, color)}\n`);
  };
  return {
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    enabled: (lineLevel) => RANK[lineLevel] >= threshold,
  };
}
