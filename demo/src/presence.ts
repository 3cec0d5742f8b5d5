/**
 * Who is in the chat room now. Each tab, while connected, beats every HEARTBEAT_MS:
 *
 *   ~<key>/presence/<room>   { at: <epoch ms> }, signed, in the tab's own space
 *   presence/<room>          the public room set: property <key> → a link to the node above
 *                            (written once per room and connection)
 *
 * Every tab maps the room set (`db.get('presence/<room>').map().on(…)`) and shows the
 * identities whose heartbeat is younger than FRESH_MS. A key counts only when its link
 * points into that key's own space (as the chat checks its authors), so nobody can make
 * someone else appear. Leaving: a tab that closes writes `at: 0` on its way out (best
 * effort); one that closes abruptly or goes offline stops beating and drops out after
 * FRESH_MS. Two tabs of one browser profile have different identities (see main.ts).
 */
import type { Identity, Network, NodeData, RustDHT, Value } from 'rustdht';
import { byId, el } from './dom.js';
import type { Names } from './profile.js';

export const HEARTBEAT_MS = 4_000;
export const FRESH_MS = 15_000;

export const presenceSoul = (room: string): string => `presence/${room}`;
const ownNodeSoul = (publicKey: string, room: string): string => `~${publicKey}/presence/${room}`;

function isNodeData(value: Value | NodeData): value is NodeData {
  return value !== null && typeof value === 'object' && !('#' in value);
}

/** A colour for a key: the same key, the same colour everywhere. */
export function colourOf(publicKey: string): string {
  let hash = 0;
  for (let i = 0; i < publicKey.length; i++) hash = (hash * 31 + publicKey.charCodeAt(i)) >>> 0;
  return `hsl(${hash % 360} 55% 45%)`;
}

/** One or two letters for an avatar. */
export function initialsOf(label: string): string {
  const words = label.replace(/…$/, '').split(/\s+/).filter((w) => w !== '');
  const letters = words.length >= 2 ? words[0]![0]! + words[1]![0]! : (words[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

export interface Presence {
  /** Moves to another room (leaves the previous one). */
  join(room: string): void;
}

export function setupPresence(db: RustDHT, network: Network, identity: Identity, names: Names, firstRoom: string): Presence {
  const list = byId('presence-list');
  const count = byId('presence-count');
  const me = identity.publicKey;

  let room = firstRoom;
  /** key → last heartbeat time (the writer's clock). */
  let seen = new Map<string, number>();
  let stop: (() => void) | undefined;
  let generation = 0;
  /** Whether the room-set link for `room` was written on the current connection. */
  let linked = false;

  const connected = (): boolean => network.online && network.status().peers.length > 0;

  const beat = (): void => {
    if (!connected()) return;
    const target = room;
    const own = db.user(identity).get('presence').get(target);
    void own
      .put({ at: Date.now() })
      .then(async () => {
        if (linked || target !== room) return;
        linked = true;
        await db.get(presenceSoul(target)).get(me).put(own);
      })
      .catch((error: unknown) => console.warn(`presence: ${String(error)}`));
  };

  const render = (): void => {
    const now = Date.now();
    const here = [...seen].filter(([key, at]) => key !== me && now - at < FRESH_MS).map(([key]) => key);
    here.sort((a, b) => names.label(a).localeCompare(names.label(b)));
    const members = [me, ...here];
    const online = connected();
    const items = members.map((key) => {
      const label = names.label(key);
      const mine = key === me;
      return el(
        'li',
        {
          class: mine ? 'member mine' : 'member',
          'data-testid': 'presence-member',
          'data-key': key,
          'data-name': names.nameOf(key) ?? '',
          title: `${label}${mine ? ' (you)' : ''} · ${key}`,
        },
        el('span', { class: 'avatar', style: `background:${colourOf(key)}`, 'aria-hidden': 'true' }, initialsOf(label)),
        el('span', { class: 'member-name' }, mine ? `${label} (you${online ? '' : ', offline'})` : label),
      );
    });
    const next = items.map((i) => i.outerHTML).join('');
    if (list.innerHTML !== next) list.replaceChildren(...items);
    list.dataset['count'] = String(members.length);
    count.textContent = members.length === 1 ? 'only you' : `${members.length} here`;
  };

  const join = (next: string): void => {
    const previous = room;
    if (stop !== undefined && previous !== next && connected()) {
      void db.user(identity).get('presence').get(previous).put({ at: 0 }).catch(() => {});
    }
    stop?.();
    room = next;
    linked = false;
    seen = new Map();
    const mine = ++generation;
    const set = db.get(presenceSoul(next));
    stop = set.map().on((value, key) => {
      if (mine !== generation || key === me) return;
      if (!isNodeData(value) || typeof value['at'] !== 'number') {
        if (seen.delete(key)) render();
        return;
      }
      const at = value['at'];
      void set
        .get(key)
        .meta({ local: true })
        .then((meta) => {
          if (mine !== generation) return;
          const link = meta !== undefined && 'value' in meta ? meta.value : undefined;
          const target = link !== null && typeof link === 'object' && '#' in link ? link['#'] : undefined;
          if (target !== ownNodeSoul(key, next)) return; // not that key's own node: ignored
          seen.set(key, at);
          render();
        });
    });
    render();
    beat();
  };

  // Beat while connected; on (re)connection at once, with the room link again.
  setInterval(beat, HEARTBEAT_MS);
  network.on((event) => {
    if (event.type === 'peer:connect') {
      linked = false;
      beat();
    }
    if (event.type === 'peer:connect' || event.type === 'peer:disconnect' || event.type === 'state') render();
  });
  names.onChange(render);
  setInterval(render, 1000);
  // Leaving on purpose: closing the tab or navigating away.
  window.addEventListener('pagehide', () => {
    if (connected()) void db.user(identity).get('presence').get(room).put({ at: 0 }).catch(() => {});
  });

  join(firstRoom);
  return { join };
}
