/**
 * The shapes of data at the public API. The engine stores only `Value`s; nested
 * objects become linked child nodes on the way in (see flatten.ts) and linked nodes
 * come back as plain objects on the way out.
 */

/** A reference to another node: `{ '#': soul }`, as in GunDB. */
export interface Link {
  readonly '#': string;
}

/** What one property can hold. Deleting is writing `null`. */
export type Value = null | boolean | number | string | Link;

/** A node's properties as read back: links stay `{ '#': soul }`. */
export interface NodeData {
  [key: string]: Value;
}

/** What `once()` and `on()` deliver: a property's value, a node's data, or `undefined` when absent. */
export type ReadValue = Value | NodeData | undefined;

/** A property as the engine records it. `signer`/`signature` are set for signed writes. */
export interface PropertyMeta {
  readonly value: Value;
  /** Milliseconds since the epoch (with a fraction that orders writes within one ms). */
  readonly state: number;
  /** base64url Ed25519 public key of the writer, for signed writes. */
  readonly signer?: string;
  /** base64url Ed25519 signature, for signed writes. */
  readonly signature?: string;
}

/** A node with each property's metadata. */
export interface NodeMeta {
  readonly soul: string;
  readonly props: Readonly<Record<string, PropertyMeta>>;
}

/** One property change as the engine applied it. */
export interface PropertyChange {
  readonly soul: string;
  readonly key: string;
  readonly value: Value;
  readonly state: number;
  /** base64url public key of the signer, or null for unsigned data. */
  readonly signer: string | null;
}

export function isLink(value: unknown): value is Link {
  return typeof value === 'object' && value !== null && typeof (value as { '#'?: unknown })['#'] === 'string';
}
