/**
 * The offline switch: checked = `network.goOffline()` (every peer hung up, no dialling;
 * writes keep landing in the outbox, reads answer locally), unchecked = `goOnline()`
 * (every known address is dialled again; the outbox drains: syncing, then idle).
 */
import type { Network } from 'rustdht';
import { byId, describeError } from './dom.js';

export interface OfflineSwitch {
  /** Back online (the connect button does this: connecting means wanting to be online). */
  online(): void;
}

export function setupOffline(network: Network): OfflineSwitch {
  const toggle = byId<HTMLInputElement>('offline-toggle');
  toggle.checked = !network.online;
  // Switches are applied in order: a quick off-on-off ends offline.
  let queue: Promise<void> = Promise.resolve();
  const apply = (offline: boolean): void => {
    queue = queue
      .then(async () => {
        if (offline) await network.goOffline();
        else network.goOnline();
      })
      .catch((error: unknown) => console.warn(`offline switch: ${describeError(error)}`));
  };
  toggle.addEventListener('change', () => apply(toggle.checked));
  return {
    online() {
      if (!toggle.checked && network.online) return;
      toggle.checked = false;
      apply(false);
    },
  };
}
