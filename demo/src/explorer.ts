/**
 * The graph explorer: open any soul and see each property's value, HAM state (the
 * write's time: the higher state wins a conflict) and signer; follow links; edit a
 * property; create notes in one's own `~` space; see refused writes as errors.
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

export function setupExplorer(db: RustDHT, identity: Identity, currentRoom: () => string): void {
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
  const ownSpace = `~${identity.publicKey}`;

  let soul: string | undefined;
  let stop: (() => void) | undefined;
  let generation = 0;

  const valueCell = (value: Value): HTMLElement => {
    if (isLink(value)) {
      const button = el('button', { type: 'button', class: 'prop-link', 'data-soul': value['#'], title: `open ${value['#']}` }, `→ ${value['#']}`);
      button.addEventListener('click', () => void open(value['#']));
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
    const when = new Date(prop.state);
    return el(
      'tr',
      { 'data-testid': 'explorer-prop', 'data-key': key, 'data-state': String(prop.state), 'data-signer': prop.signer ?? '' },
      el('th', { scope: 'row' }, keyButton),
      valueCell(prop.value),
      el('td', { class: 'prop-state', title: Number.isNaN(when.getTime()) ? '' : when.toISOString() }, String(prop.state)),
      el(
        'td',
        { class: 'prop-signer', title: prop.signer ?? 'unsigned' },
        prop.signer === undefined ? '—' : prop.signer === identity.publicKey ? `${prop.signer} (you)` : prop.signer,
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

  const refresh = async (which: number, local: boolean): Promise<void> => {
    if (soul === undefined) return;
    const meta = (await db.get(soul).meta({ local })) as NodeMeta | undefined;
    if (which === generation) render(meta);
  };

  const open = async (next: string): Promise<void> => {
    next = next.trim();
    if (next === '') {
      say(errorLine, 'Type a soul to open (e.g. chat/lobby, or your space ~…).');
      return;
    }
    stop?.();
    soul = next;
    const which = ++generation;
    soulInput.value = next;
    current.textContent = next;
    current.dataset['soul'] = next;
    say(errorLine, undefined);
    say(infoLine, next === ownSpace || next.startsWith(`${ownSpace}/`) ? 'Your own space: your edits are signed.' : next.startsWith('~') ? "Another identity's space: only its key can write here." : 'A public soul: anyone can write, unsigned.');
    // Live: every change to the node (here or from a peer) redraws it.
    stop = db.get(next).on(() => void refresh(which, true).catch(report));
    render(undefined);
    await refresh(which, false); // asks the servers first (read-through), then shows
  };

  // A RustDHT error (it has a code) is a refusal of the write; anything else is a hint.
  const report = (error: unknown): void => {
    const refused = error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
    say(errorLine, refused ? `Refused: ${describeError(error)}` : describeError(error));
  };

  openForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void open(soulInput.value).catch(report);
  });
  byId('open-my-space').addEventListener('click', () => void open(ownSpace).catch(report));
  byId('open-room').addEventListener('click', () => void open(`chat/${currentRoom()}`).catch(report));

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
}
