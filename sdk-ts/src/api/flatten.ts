/**
 * Turns what a user puts into the flat update list the engine takes:
 * `[soul0, key0, value0, soul1, key1, value1, …]`, in one pass.
 *
 * This decides only the shape, which is the shell's job: a plain object is a child
 * node (its soul derived from parent and key, or the node it already links to), a Ref
 * or `{ '#': soul }` is a link, and everything else is handed to the engine as a
 * value. The engine alone decides whether a value is acceptable (finite numbers,
 * well-formed strings, sizes, namespaces), for the whole batch before anything is
 * written. What has no place in the data model at all (arrays, undefined, functions,
 * class instances, cycles) is refused here, also before anything is written.
 */
import { InvalidValueError } from './errors.js';
import type { LocalReplica } from '../replica/replica.js';
import { childSoulForWrite, parentSoulForWrite, type RefPath } from '../replica/resolve.js';
import type { Link, Value } from './values.js';

/** Implemented by Ref: what a link to it points at, in the given replica. */
export const LINK_TARGET: unique symbol = Symbol('rustdht.linkTarget');

export interface Linkable {
  [LINK_TARGET](replica: LocalReplica): string;
}

/** What `put()` accepts: a value, a nested object (a child node) or a Ref (a link). */
export type PutValue = Value | PutObject | Linkable;

export interface PutObject {
  [key: string]: PutValue;
}

function isLinkable(value: object): value is Linkable {
  return typeof (value as Partial<Linkable>)[LINK_TARGET] === 'function';
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** `{ '#': soul }` and nothing else. */
function asLinkObject(value: object, soul: string, key: string): Link | undefined {
  if (!Object.hasOwn(value, '#')) return undefined;
  const target = (value as { '#': unknown })['#'];
  if (typeof target !== 'string' || Object.keys(value).length !== 1) {
    throw invalid(
      `an object with a "#" property is a link and must be exactly { '#': soul } with a string soul`,
      soul,
      key,
    );
  }
  return value as Link;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an instance of ${(value as object).constructor?.name ?? 'a class'}`;
  return `a ${typeof value}`;
}

function invalid(problem: string, soul: string, key: string | undefined): InvalidValueError {
  const where = key === undefined ? `soul ${JSON.stringify(soul)}` : `${JSON.stringify(key)} of soul ${JSON.stringify(soul)}`;
  return new InvalidValueError('value/type', `${where}: ${problem}. Nothing was written.`, { soul, key });
}

const VALUE_ADVICE =
  'use null, a boolean, a finite number, a string, a plain object (a child node) or a Ref / { "#": soul } (a link); ' +
  'for lists, use set() or an object keyed by id; to delete, put null';

export class Flattener {
  readonly #replica: LocalReplica;
  readonly #flat: unknown[] = [];
  /** Objects being flattened, outermost first, to refuse cycles. */
  readonly #open: object[] = [];

  constructor(replica: LocalReplica) {
    this.#replica = replica;
  }

  /** The updates of `put(value)` on the ref at `path`. */
  static put(replica: LocalReplica, path: RefPath, value: unknown): unknown[] {
    const flattener = new Flattener(replica);
    const flat = flattener.#flat;
    const keys = path.keys;
    if (keys.length === 0) {
      if (typeof value !== 'object' || value === null || isLinkable(value) || !isPlainObject(value) || Object.hasOwn(value, '#')) {
        throw invalid(
          `a root node holds properties, so put() on it takes a plain object, not ${value === null ? 'null' : describe(value)}; ` +
            `to set one property use db.get(soul).get(key).put(value)`,
          path.root,
          undefined,
        );
      }
      flattener.#node(path.root, value);
    } else {
      const soul = parentSoulForWrite(replica, path, flat);
      flattener.#property(soul, keys[keys.length - 1]!, value);
    }
    return flat;
  }

  #property(soul: string, key: string, value: unknown): void {
    switch (typeof value) {
      case 'string':
      case 'number':
      case 'boolean':
        this.#flat.push(soul, key, value);
        return;
      case 'object': {
        if (value === null) {
          this.#flat.push(soul, key, null);
          return;
        }
        if (isLinkable(value)) {
          this.#flat.push(soul, key, { '#': value[LINK_TARGET](this.#replica) });
          return;
        }
        if (!isPlainObject(value)) throw invalid(`${describe(value)} is not a value: ${VALUE_ADVICE}`, soul, key);
        const link = asLinkObject(value, soul, key);
        if (link !== undefined) {
          this.#flat.push(soul, key, link);
          return;
        }
        if (this.#open.includes(value)) throw invalid('the object contains itself (a cycle); link nodes with Refs instead', soul, key);
        this.#node(childSoulForWrite(this.#replica, soul, key, this.#flat), value);
        return;
      }
      default:
        throw invalid(`${describe(value)} is not a value: ${VALUE_ADVICE}`, soul, key);
    }
  }

  #node(soul: string, data: object): void {
    this.#open.push(data);
    const keys = Object.keys(data);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      this.#property(soul, key, (data as Record<string, unknown>)[key]);
    }
    this.#open.pop();
  }
}
