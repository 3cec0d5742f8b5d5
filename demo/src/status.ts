/**
 * Live status: the network's state (offline: no peer; syncing: outbox entries or reads in
 * flight; idle: connected and caught up), the outbox size (local writes not yet
 * acknowledged by a server), and one row per connected peer with its transport (direct
 * browser-to-browser WebRTC shows as 'webrtc'), role and last ping round trip. Redrawn on
 * every network and outbox event, and every second for the round trips.
 */
import type { Network, RustDHT } from 'rustdht';
import { byId, el } from './dom.js';

const TRANSPORT_LABEL: Readonly<Record<string, string>> = {
  websockets: 'WebSockets',
  'webrtc-direct': 'WebRTC-Direct',
  webrtc: 'WebRTC (direct, browser to browser)',
  'circuit-relay': 'relayed (circuit relay)',
  tcp: 'TCP',
  other: 'other',
};

/** How many refusals the log keeps. */
const MAX_REJECTS = 20;

export function setupStatus(db: RustDHT, network: Network): void {
  const stateOutput = byId('status-state');
  const outboxOutput = byId('outbox-size');
  const peerList = byId('peer-list');
  const noPeers = byId('no-peers');
  const rejectLog = byId('reject-log');
  const noRejects = byId('no-rejects');

  const render = (): void => {
    const status = network.status();
    if (stateOutput.textContent !== status.state) {
      stateOutput.textContent = status.state;
      stateOutput.dataset['state'] = status.state;
    }
    const outbox = String(db.closed ? 0 : db.outbox.size);
    if (outboxOutput.textContent !== outbox) outboxOutput.textContent = outbox;

    const rows = status.peers.map((peer) => {
      const rtt = peer.rttMs === undefined ? '—' : `${peer.rttMs < 10 ? peer.rttMs.toFixed(1) : Math.round(peer.rttMs)} ms`;
      return el(
        'li',
        { class: 'peer', 'data-testid': 'peer-row', 'data-peer-id': peer.peerId, 'data-transport': peer.transport, 'data-role': peer.role ?? 'unknown' },
        el('span', { class: 'peer-role' }, peer.role ?? '?'),
        el('span', { class: 'peer-transport' }, TRANSPORT_LABEL[peer.transport] ?? peer.transport),
        el('span', { class: 'peer-rtt', 'data-testid': 'peer-rtt', title: 'round trip (ping)' }, rtt),
        el('code', { class: 'peer-id', title: peer.address }, peer.peerId),
      );
    });
    // Rebuilt only when something shown changed (keeps text selection stable).
    const next = rows.map((r) => r.outerHTML).join('');
    if (peerList.innerHTML !== next) peerList.replaceChildren(...rows);
    noPeers.hidden = rows.length !== 0;
  };

  network.on((event) => {
    // Refusals (dial failures, 'dial:failed', are the connection bar's: they are retried).
    if (event.type === 'reject') {
      const item = el(
        'li',
        { 'data-testid': 'reject', 'data-code': event.code },
        el('time', { datetime: new Date().toISOString() }, new Date().toLocaleTimeString()),
        ' ',
        el('strong', {}, event.code),
        ` ${event.message}`,
      );
      rejectLog.prepend(item);
      noRejects.hidden = true;
      while (rejectLog.children.length > MAX_REJECTS) rejectLog.lastElementChild!.remove();
    }
    render();
  });
  db.outbox.onChange(render);
  setInterval(render, 1000);
  render();
}
