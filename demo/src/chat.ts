/**
 * The chat room. How messages live in the graph:
 *
 *   ~<author>/chat/<room>/<key>   the message node { text, author, at }, in the author's
 *                                 own space: every property signed by the author's
 *                                 identity, and no other key can write there (the
 *                                 namespace rule every peer enforces). Written with
 *                                 db.user(identity).get('chat').get(room).set({...}), so
 *                                 <key> is a fresh, time-ordered key.
 *   chat/<room>                   the public room node: property <key> → a link to the
 *                                 message node. Public souls take unsigned writes from
 *                                 anyone, so every author can add their link; two
 *                                 authors never collide (set keys are unique).
 *
 * The room is shown with db.get('chat/<room>').map().on(): each child arrives as the
 * linked message's data, live, from this tab or any peer. The author shown is the one
 * the message's soul proves (~<author>/…), not merely what its `author` field claims,
 * by the display name that author set in their profile (profile.ts, live), else a short
 * key. A message this tab wrote stays marked "pending" while the server has not
 * acknowledged its writes (pending.ts: the outbox entries touching its node).
 */
import type { Identity, NodeData, RustDHT, Value } from 'rustdht';
import { byId, describeError, el, say } from './dom.js';
import type { PendingWrites } from './pending.js';
import { colourOf, initialsOf } from './presence.js';
import { shortKey, type Names } from './profile.js';
import { localDateTime, localTime } from './time.js';

interface Message {
  readonly key: string;
  readonly text: string;
  readonly author: string;
  readonly at: number;
  /** The message's node (~<author>/chat/<room>/<key>). */
  readonly soul: string;
}

/** The public room node of `room`. */
export const roomSoul = (room: string): string => `chat/${room}`;

/** The public key whose space holds `soul` (`~<key>` or `~<key>/…`), if any. */
function spaceOf(soul: string): string | undefined {
  return /^~([^/]+)(?:\/|$)/.exec(soul)?.[1];
}

function isNodeData(value: Value | NodeData): value is NodeData {
  return value !== null && typeof value === 'object' && !('#' in value);
}

export interface ChatPanel {
  /** The room shown now. */
  room(): string;
  /** Called after the room changes. */
  onRoom(listener: (room: string) => void): void;
}

export function setupChat(db: RustDHT, identity: Identity, names: Names, pending: PendingWrites): ChatPanel {
  const roomForm = byId<HTMLFormElement>('room-form');
  const roomInput = byId<HTMLInputElement>('chat-room');
  const list = byId('chat-messages');
  const chatForm = byId<HTMLFormElement>('chat-form');
  const input = byId<HTMLInputElement>('chat-input');
  const errorLine = el('p', { class: 'error', role: 'alert', 'data-testid': 'chat-error', hidden: '' });
  chatForm.after(errorLine);

  let room = roomInput.value.trim() || 'lobby';
  let stop: (() => void) | undefined;
  let messages = new Map<string, Message>();
  /** Bumped when the room changes, so late callbacks of the old room are dropped. */
  let generation = 0;
  const roomListeners: Array<(room: string) => void> = [];
  /** Keys of the messages shown as pending. */
  const shownPending = new Set<string>();

  /** Whether the server has not acknowledged this message yet (its node or its room link). */
  // A message and its link from the room are written by one set(), in one outbox entry.
  const isPending = (m: Message): boolean => m.author === identity.publicKey && pending.touches(m.soul);

  const render = (): void => {
    const sorted = [...messages.values()].sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : 1));
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    shownPending.clear();
    list.replaceChildren(
      ...sorted.map((m) => {
        const mine = m.author === identity.publicKey;
        const name = names.nameOf(m.author);
        const label = name ?? shortKey(m.author);
        const waiting = isPending(m);
        if (waiting) shownPending.add(m.key);
        return el(
          'li',
          {
            class: `chat-message${mine ? ' mine' : ''}${waiting ? ' pending' : ''}`,
            'data-testid': 'chat-message',
            'data-author': m.author,
            'data-key': m.key,
            'data-soul': m.soul,
            'data-pending': String(waiting),
          },
          el('span', { class: 'avatar', style: `background:${colourOf(m.author)}`, 'aria-hidden': 'true' }, initialsOf(label)),
          el(
            'span',
            { class: 'chat-meta' },
            el('span', { class: 'chat-author', 'data-testid': 'chat-author', 'data-named': String(name !== undefined), title: m.author }, mine ? `${label} (you)` : label),
            el('time', { class: 'chat-time', ...(Number.isNaN(new Date(m.at).getTime()) ? {} : { datetime: new Date(m.at).toISOString() }), title: localDateTime(m.at) }, localTime(m.at)),
            ...(waiting
              ? [el('span', { class: 'chat-pending', 'data-testid': 'chat-pending', title: 'Saved in this browser; not yet acknowledged by the server (offline, or on its way).' }, 'pending')]
              : []),
          ),
          el('span', { class: 'chat-text' }, m.text),
        );
      }),
    );
    if (sorted.length === 0) list.replaceChildren(el('li', { class: 'empty' }, `No messages in “${room}” yet: say hello!`));
    if (atBottom) list.scrollTop = list.scrollHeight;
  };

  const join = (next: string): void => {
    stop?.();
    room = next;
    roomInput.value = next;
    messages = new Map();
    render();
    const mine = ++generation;
    for (const listener of roomListeners) listener(next);
    const roomRef = db.get(roomSoul(next));
    stop = roomRef.map().on((value, key) => {
      void (async () => {
        if (!isNodeData(value) || typeof value['text'] !== 'string') {
          if (value === null && messages.delete(key)) render(); // the link was deleted
          return; // not a message (yet: its node may still be on its way)
        }
        // Which node the room links to: its space is the proven author.
        const meta = await roomRef.get(key).meta({ local: true });
        if (mine !== generation) return;
        const link = meta !== undefined && 'value' in meta ? meta.value : undefined;
        const soul = link !== null && typeof link === 'object' && '#' in link ? link['#'] : undefined;
        const author = soul === undefined ? undefined : spaceOf(soul);
        if (author === undefined || value['author'] !== author) return; // unsigned or forged: not shown
        const at = typeof value['at'] === 'number' ? value['at'] : 0;
        messages.set(key, { key, text: value['text'], author, at, soul: soul! });
        render();
      })().catch((error: unknown) => console.warn(`chat: ${describeError(error)}`));
    });
  };

  roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = roomInput.value.trim();
    if (next !== '' && next !== room) join(next);
  });
  // Leaving the field with another name also switches (keyboard users: Tab away or Enter).
  roomInput.addEventListener('change', () => {
    const next = roomInput.value.trim();
    if (next !== '' && next !== room) join(next);
  });

  chatForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text === '') return;
    // The room field may hold a name not yet joined (typed, then Send): join it first.
    const typedRoom = roomInput.value.trim();
    if (typedRoom !== '' && typedRoom !== room) join(typedRoom);
    const target = room;
    input.value = '';
    say(errorLine, undefined);
    void (async () => {
      // The message, signed, in this identity's space; then its link in the public room.
      const message = await db.user(identity).get('chat').get(target).set({ text, author: identity.publicKey, at: Date.now() });
      await db.get(roomSoul(target)).get(message.key!).put(message);
    })().catch((error: unknown) => {
      input.value = text;
      say(errorLine, `Not sent: ${describeError(error)}`);
    });
  });

  // Names arrive and change live; acknowledgements clear the pending marks.
  let queued = false;
  const renderSoon = (): void => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      render();
    });
  };
  names.onChange((publicKey) => {
    for (const m of messages.values()) if (m.author === publicKey) return renderSoon();
  });
  pending.onChange(() => {
    for (const m of messages.values()) if (isPending(m) !== shownPending.has(m.key)) return renderSoon();
  });

  join(room);
  return { room: () => room, onRoom: (listener) => void roomListeners.push(listener) };
}
