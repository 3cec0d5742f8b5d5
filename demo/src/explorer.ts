/**
 * The graph explorer: open any soul and see each property's value, HAM state (the
 * write's time, shown as "2 min ago" with the exact state in the tooltip: the higher
 * state wins a conflict) and signer (by display name); follow links, with a trail of
 * where you came from and a back button; a picture of the neighbourhood (graph.ts: click
 * a node to open it); edit a property; create notes in one's own `~` space; see refused
 * writes as errors.
 *
 * Writes go where the open soul is:
 *   - this identity's space (`~<own key>` or `~<own key>/a/b…`): signed, through
 *     db.user(identity).get('a').get('b')…, i.e. by following the path of keys from the
 *     space's root node. Nodes made by this page (notes, chat messages) sit at exactly
 *     those derived souls; for another soul of the space the write would create the links
 *     of that path first;
 *   - anywhere else: unsigned, db.get(soul).get(key).put(value). Public souls accept it;
 *     another identity's space refuses it (signature/missing: only its key may write
 *     there), and the refusal is shown with its code.
 */
import type { Identity, NodeMeta, PropertyMeta, PutValue, RustDHT, Value } from 'rustdht';
import { byId, describeError, el, say } from './dom.js';
import { drawGraph, exploreNeighbourhood, readThroughOnce, type NodeReader } from './graph.js';
import { shortKey, type Names } from './profile.js';
import { timeElement } from './time.js';

/** What the value field holds: JSON when it parses (42, true, null, {"#":"soul"}), else the text as a string. */
export function parseValue(text: string): PutValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (Array.isArray(parsed)) throw new Error('arrays are not values: use an object (a child node), or quote it as a string');
  return parsed as PutValue;
}

function isLink(value: Value): value is { '#': string } {
  return value !== null && typeof value === 'object' && typeof value['#'] === 'string';
}

/** A short name for a soul in the trail: `~name` for a space root, else its last segment or two. */
function crumbLabel(soul: string, names: Names): string {
  const clip = (text: string): string => (text.length > 24 ? `${text.slice(0, 23)}…` : text);
  const space = /^~([^/]+)(\/.*)?$/.exec(soul);
  if (space !== null) {
    const who = `~${clip(names.label(space[1]!))}`;
    if (space[2] === undefined) return who;
    const rest = space[2].split('/').filter((s) => s !== '');
    return `${who}/${rest.length > 1 ? '…/' : ''}${clip(rest[rest.length - 1] ?? '')}`;
  }
  const parts = soul.split('/').filter((s) => s !== '');
  return clip(parts.length > 2 ? `…/${parts.slice(-2).join('/')}` : soul);
}

export interface ExplorerPanel {
  /** Opens `soul` as a new trail. */
  open(soul: string): Promise<void>;
  /** The souls followed to the open one (the open one last; empty before the first). */
  trail(): readonly string[];
}

export function setupExplorer(db: RustDHT, identity: Identity, names: Names, currentRoom: () => string): ExplorerPanel {
  const openForm = byId<HTMLFormElement>('explorer-form');
  const soulInput = byId<HTMLInputElement>('explorer-soul');
  const current = byId('explorer-current');
  const props = byId('explorer-props');
  const editForm = byId<HTMLFormElement>('edit-form');
  const editKey = byId<HTMLInputElement>('explorer-edit-key');
  const editValue = byId<HTMLInputElement>('explorer-edit-value');
  const errorLine = byId('explorer-error');
  const infoLine = byId('explorer-info');
  const noteForm = byId<HTMLFormElement>('note-form');
  const noteText = byId<HTMLInputElement>('note-text');
  const backButton = byId<HTMLButtonElement>('explorer-back');
  const trailList = byId('explorer-trail');
  const graph = byId('explorer-graph') as unknown as SVGSVGElement;
  const graphNote = byId('explorer-graph-note');
  const ownSpace = `~${identity.publicKey}`;

  let soul: string | undefined;
  let stop: (() => void) | undefined;
  let generation = 0;
  /** The souls opened by following links from the first, the open one last. */
  let trail: string[] = [];

  // A RustDHT error (it has a code) is a refusal of the write; anything else is a hint.
  const report = (error: unknown): void => {
    const refused = error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
    say(errorLine, refused ? `Refused: ${describeError(error)}` : describeError(error));
  };

  const valueCell = (value: Value): HTMLElement => {
    if (isLink(value)) {
      const button = el('button', { type: 'button', class: 'prop-link', 'data-soul': value['#'], title: `open ${value['#']}` }, `→ ${value['#']}`);
      button.addEventListener('click', () => void follow(value['#']).catch(report));
      return el('td', { class: 'prop-value', 'data-type': 'link' }, button);
    }
    const type = value === null ? 'null' : typeof value;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return el('td', { class: 'prop-value', 'data-type': type, title: value === null ? 'deleted' : type }, text);
  };

  const row = (key: string, prop: PropertyMeta): HTMLElement => {
    const keyButton = el('button', { type: 'button', class: 'prop-key', title: `edit ${key}` }, key);
    keyButton.addEventListener('click', () => {
      editKey.value = key;
      editValue.value = isLink(prop.value) ? JSON.stringify(prop.value) : typeof prop.value === 'string' ? prop.value : JSON.stringify(prop.value);
      editValue.focus();
    });
    const signer = prop.signer;
    return el(
      'tr',
      { 'data-testid': 'explorer-prop', 'data-key': key, 'data-state': String(prop.state), 'data-signer': signer ?? '' },
      el('th', { scope: 'row' }, keyButton),
      valueCell(prop.value),
      el('td', { class: 'prop-state' }, timeElement(prop.state, { 'data-testid': 'prop-time' }, String(prop.state))),
      el(
        'td',
        { class: 'prop-signer', title: signer ?? 'unsigned' },
        signer === undefined ? '—' : signer === identity.publicKey ? `you (${shortKey(signer)})` : names.label(signer),
      ),
    );
  };

  const render = (meta: NodeMeta | undefined): void => {
    const keys = meta === undefined ? [] : Object.keys(meta.props).sort();
    if (keys.length === 0) {
      props.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: '4' }, 'No properties known for this soul (yet): add one below.')));
      return;
    }
    props.replaceChildren(...keys.map((key) => row(key, meta!.props[key]!)));
  };

  /** The picture's reads since the open node was opened: each soul asked of the servers once. */
  let reader: NodeReader = readThroughOnce(db);
  /** Redraws the picture of the neighbourhood. */
  const redrawGraph = async (which: number): Promise<void> => {
    if (soul === undefined) return;
    const model = await exploreNeighbourhood(reader, names, soul, trail.length > 1 ? trail[trail.length - 2] : undefined);
    if (which !== generation) return;
    drawGraph(graph, model, identity.publicKey, (target) => void follow(target).catch(report));
    const links = model.edges.filter((e) => e.from === model.root).length;
    graphNote.textContent =
      `${model.nodes.length} node${model.nodes.length === 1 ? '' : 's'}, ${model.edges.length} link${model.edges.length === 1 ? '' : 's'}` +
      (links === 0 ? ' · this node links nowhere' : '') +
      (model.hidden > 0 ? ` · ${model.hidden} more not drawn` : '') +
      ' · click a node to open it';
  };

  let graphTimer: ReturnType<typeof setTimeout> | undefined;
  const refresh = async (which: number, local: boolean): Promise<void> => {
    if (soul === undefined) return;
    const meta = (await db.get(soul).meta({ local })) as NodeMeta | undefined;
    if (which !== generation) return;
    render(meta);
    // The picture follows: drawn on opening, then redrawn at most every 300 ms while the node changes.
    if (!local) {
      await redrawGraph(which);
    } else if (graphTimer === undefined) {
      graphTimer = setTimeout(() => {
        graphTimer = undefined;
        void redrawGraph(generation).catch(report);
      }, 300);
    }
  };

  const renderTrail = (): void => {
    backButton.disabled = trail.length < 2;
    backButton.title = trail.length < 2 ? 'Nothing to go back to' : `Back to ${trail[trail.length - 2]!}`;
    trailList.replaceChildren(
      ...trail.map((s, i) => {
        const last = i === trail.length - 1;
        const crumb = el('button', { type: 'button', class: 'crumb', 'data-testid': 'crumb', 'data-soul': s, title: s }, crumbLabel(s, names));
        if (last) crumb.setAttribute('aria-current', 'location');
        else crumb.addEventListener('click', () => void show(s, trail.slice(0, i + 1)).catch(report));
        return el('li', {}, crumb);
      }),
    );
    trailList.dataset['depth'] = String(trail.length);
  };

  /** Shows `next`, reached by `nextTrail`. */
  const show = async (next: string, nextTrail: string[]): Promise<void> => {
    stop?.();
    soul = next;
    trail = nextTrail;
    reader = readThroughOnce(db);
    const which = ++generation;
    soulInput.value = next;
    current.textContent = next;
    current.dataset['soul'] = next;
    renderTrail();
    say(errorLine, undefined);
    say(
      infoLine,
      next === ownSpace || next.startsWith(`${ownSpace}/`)
        ? 'Your own space: your edits are signed.'
        : next.startsWith('~')
          ? "Another identity's space: only its key can write here."
          : 'A public soul: anyone can write, unsigned.',
    );
    // Live: every change to the node (here or from a peer) redraws it.
    stop = db.get(next).on(() => void refresh(which, true).catch(report));
    render(undefined);
    await refresh(which, false); // asks the servers first (read-through), then shows
  };

  /** Opens `next` as a new trail (the soul field, the shortcuts, a new note). */
  const open = async (next: string): Promise<void> => {
    next = next.trim();
    if (next === '') {
      say(errorLine, 'Type a soul to open (e.g. chat/lobby, or your space ~…).');
      return;
    }
    await show(next, [next]);
  };

  /** Follows a link from the open node: the trail grows (back returns), or shrinks to `next` if it is on it. */
  const follow = async (next: string): Promise<void> => {
    const at = trail.indexOf(next);
    await show(next, at >= 0 ? trail.slice(0, at + 1) : [...trail, next]);
  };

  openForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void open(soulInput.value).catch(report);
  });
  byId('open-my-space').addEventListener('click', () => void open(ownSpace).catch(report));
  byId('open-room').addEventListener('click', () => void open(`chat/${currentRoom()}`).catch(report));
  backButton.addEventListener('click', () => {
    if (trail.length >= 2) void show(trail[trail.length - 2]!, trail.slice(0, -1)).catch(report);
  });
  // Names arrive live: the trail and the signers show them.
  names.onChange(() => {
    if (trail.some((s) => s.startsWith('~'))) renderTrail();
  });

  editForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      say(errorLine, undefined);
      if (soul === undefined) {
        // Nothing open: open what the soul field says first.
        if (soulInput.value.trim() === '') throw new Error('open a soul first');
        await open(soulInput.value);
      }
      const target = soul!;
      const key = editKey.value;
      if (key === '') throw new Error('type the key of the property to write');
      const value = parseValue(editValue.value);
      let signed = false;
      if (target === ownSpace || target.startsWith(`${ownSpace}/`)) {
        const path = target.slice(ownSpace.length).split('/').filter((k) => k !== '');
        await path.reduce((ref, k) => ref.get(k), db.user(identity)).get(key).put(value);
        signed = true;
      } else {
        await db.get(target).get(key).put(value);
      }
      say(infoLine, `Saved ${key} on ${target} (${signed ? 'signed by you' : 'unsigned'}).`);
    })().catch(report);
  });

  noteForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = noteText.value.trim();
    if (text === '') return;
    void (async () => {
      say(errorLine, undefined);
      const notes = db.user(identity).get('notes');
      const note = await notes.set({ text, at: Date.now() });
      // The note's soul: where the link just written points (~<own key>/notes/<key>).
      const link = ((await notes.get(note.key!).meta({ local: true })) as PropertyMeta | undefined)?.value;
      noteText.value = '';
      await open(link !== undefined && isLink(link) ? link['#'] : `${ownSpace}/notes/${note.key!}`);
      say(infoLine, 'Note created in your space (signed by you).');
    })().catch(report);
  });

  render(undefined);
  renderTrail();
  return { open: (next) => open(next).catch(report), trail: () => trail };
}
