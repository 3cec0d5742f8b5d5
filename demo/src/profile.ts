/**
 * Display names. Each identity keeps its profile in its own signed space:
 *
 *   ~<publicKey>.profile   a link to ~<publicKey>/profile (the soul a nested put derives)
 *   ~<publicKey>/profile   { name }, every property signed by that identity
 *
 * written with `db.user(identity).get('profile').put({ name })`. Only that key can write
 * there (every peer enforces the namespace), so a name shown for a key is the name that
 * key chose. `Names` reads other identities' names live (`db.get('~<key>').get('profile')
 * .get('name').on(…)`, one subscription per key shown) and falls back to a short key.
 */
import type { Identity, RustDHT } from 'rustdht';
import { byId, describeError, say } from './dom.js';

/** Longest name shown (names are other people's data: kept short, shown as text). */
export const MAX_NAME = 40;

/** The first 8 characters of a public key, for people: "Ab3dEf9h…". */
export const shortKey = (publicKey: string): string => `${publicKey.slice(0, 8)}…`;

/** A tidy name (trimmed, spaces collapsed, at most MAX_NAME characters), or undefined. */
export function cleanName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const name = value.replace(/\s+/g, ' ').trim().slice(0, MAX_NAME);
  return name === '' ? undefined : name;
}

export interface Names {
  /** The name `publicKey` chose, if known yet (starts watching it). */
  nameOf(publicKey: string): string | undefined;
  /** The name, or the short key. */
  label(publicKey: string): string;
  /** Called whenever a watched name changes. Returns the unsubscribe function. */
  onChange(listener: (publicKey: string) => void): () => void;
}

/** How many identities' names are watched at most (the oldest are dropped first). */
const MAX_WATCHED = 200;

export function setupNames(db: RustDHT): Names {
  const names = new Map<string, string | undefined>();
  const stops = new Map<string, () => void>();
  const listeners = new Set<(publicKey: string) => void>();

  const watch = (publicKey: string): void => {
    if (stops.has(publicKey)) return;
    if (stops.size >= MAX_WATCHED) {
      const [oldest, stop] = stops.entries().next().value as [string, () => void];
      stop();
      stops.delete(oldest);
      names.delete(oldest);
    }
    names.set(publicKey, undefined);
    stops.set(
      publicKey,
      db.get(`~${publicKey}`).get('profile').get('name').on((value) => {
        const name = cleanName(value);
        if (names.get(publicKey) === name) return;
        names.set(publicKey, name);
        for (const listener of listeners) listener(publicKey);
      }),
    );
  };

  return {
    nameOf(publicKey) {
      watch(publicKey);
      return names.get(publicKey);
    },
    label(publicKey) {
      return this.nameOf(publicKey) ?? shortKey(publicKey);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

/** The "your name" form in the header: shows the own profile's name live, saves it signed. */
export function setupProfile(db: RustDHT, identity: Identity, names: Names): void {
  const form = byId<HTMLFormElement>('profile-form');
  const input = byId<HTMLInputElement>('profile-name');
  const status = byId('profile-status');
  input.maxLength = MAX_NAME;
  let editing = false;
  input.addEventListener('input', () => (editing = true));

  const show = (): void => {
    const name = names.nameOf(identity.publicKey);
    form.dataset['name'] = name ?? '';
    if (!editing) input.value = name ?? '';
    input.placeholder = 'Pick a display name';
    input.title = `Until you pick one, others see your key: ${shortKey(identity.publicKey)}`;
  };
  names.onChange((publicKey) => publicKey === identity.publicKey && show());
  show();

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = cleanName(input.value);
    if (name === undefined) {
      say(status, 'Type a name first.');
      return;
    }
    void (async () => {
      await db.user(identity).get('profile').put({ name });
      editing = false;
      input.value = name;
      say(status, 'Saved');
      setTimeout(() => say(status, undefined), 2000);
    })().catch((error: unknown) => say(status, `Not saved: ${describeError(error)}`));
  });
}
