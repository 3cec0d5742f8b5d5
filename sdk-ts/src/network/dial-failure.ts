/**
 * Why a dial failed, in words a user can act on, with a code a program can branch on.
 *
 * What libp2p rejects with depends on the transport and the platform: a browser's
 * WebSocket rejects with a bare `Event` (which prints as "[object Event]"), Node with a
 * system error (ECONNREFUSED…) somewhere in a cause chain or inside an AggregateError
 * (one per address tried), Noise with UnexpectedPeerError when the key the peer proves
 * is not the one the address's /p2p/ part names. This walks all of those.
 */
import { RustDHTError } from '../api/errors.js';

export type DialFailureCode =
  /** Nothing listens there: the connection was refused. */
  | 'network/refused'
  /** The peer answered, but with another peer id than the address's /p2p/ part. */
  | 'network/wrong-peer'
  /** No route, no such host, timed out, or a browser that gives no reason. */
  | 'network/unreachable'
  /** Anything else (protocol negotiation, encryption, a closed stream…). */
  | 'network/dial-failed';

export interface DialFailure {
  readonly code: DialFailureCode;
  /** One sentence, starting with what was dialled. */
  readonly message: string;
}

/** Every error-like thing inside `error`: itself, its causes and an AggregateError's errors. */
function* causes(error: unknown, depth = 0): Generator<unknown> {
  if (depth > 8 || error === undefined || error === null) return;
  yield error;
  if (typeof error !== 'object') return;
  const { errors, cause } = error as { errors?: unknown; cause?: unknown };
  if (Array.isArray(errors)) for (const inner of errors) yield* causes(inner, depth + 1);
  if (cause !== undefined) yield* causes(cause, depth + 1);
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** The text of one error-like value; an Event says what it was an event of. */
function textOf(value: unknown): string {
  if (value instanceof Error) return value.message === '' ? value.name : value.message;
  if (typeof Event !== 'undefined' && value instanceof Event) {
    const url = field(value.target, 'url');
    return `${value.type} event${typeof url === 'string' ? ` from ${url}` : ''}`;
  }
  return String(value);
}

const REFUSED = new Set(['ECONNREFUSED']);
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EADDRNOTAVAIL']);

/** Describes a failed dial of `address` (the multiaddr or URL that was dialled). */
export function describeDialFailure(address: string, error: unknown): DialFailure {
  const all = [...causes(error)];
  for (const cause of all) {
    const name = field(cause, 'name');
    const message = textOf(cause);
    if (name === 'UnexpectedPeerError' || /does not match expected remote identity/i.test(message)) {
      // Noise: "Payload identity key <actual> does not match expected remote identity key <expected>"
      const keys = /identity key (\S+) does not match expected remote identity key (\S+)/.exec(message);
      const which = keys === null ? '' : ` is ${keys[1]}, not ${keys[2]}`;
      return {
        code: 'network/wrong-peer',
        message: `the peer at ${address}${which}: the /p2p/ part of the address names another peer (a typo, or the server's key changed; copy the address it prints now, or leave /p2p/… out to accept any peer there).`,
      };
    }
  }
  for (const cause of all) {
    const code = field(cause, 'code');
    if (typeof code === 'string' && REFUSED.has(code)) {
      return { code: 'network/refused', message: `could not reach ${address}: connection refused (nothing listens there: is rustdht serve running, on that port?).` };
    }
    if (typeof code === 'string' && UNREACHABLE.has(code)) {
      return { code: 'network/unreachable', message: `could not reach ${address}: ${code} (${textOf(cause)}).` };
    }
  }
  for (const cause of all) {
    if (typeof Event !== 'undefined' && cause instanceof Event) {
      return {
        code: 'network/unreachable',
        message: `could not reach ${address}: the browser's ${textOf(cause)} gives no reason (nothing listens there, the port is wrong, or the page's origin may not connect to it: an https page needs wss://).`,
      };
    }
  }
  if (error instanceof RustDHTError) return { code: 'network/dial-failed', message: `could not reach ${address}: ${error.message}` };
  const detail = all.map(textOf).filter((text, i, texts) => text !== '' && texts.indexOf(text) === i).join(': ');
  return { code: 'network/dial-failed', message: `could not reach ${address}: ${detail || 'unknown error'}.` };
}
