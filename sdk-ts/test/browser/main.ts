// The smallest real app: open a database, subscribe to a property, write it, and show
// what the subscription delivered. The Playwright test reads the result from the DOM.
import { RustDHT } from 'rustdht';

function output(id: string): HTMLOutputElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLOutputElement)) throw new Error(`missing <output id="${id}">`);
  return el;
}

async function roundTrip(): Promise<void> {
  const status = output('status');
  const message = `hello ${crypto.randomUUID()}`;
  const db = await RustDHT.open();
  const ref = db.get('room').get('msg');

  const delivered = new Promise<void>((resolve) => {
    const off = ref.on((value) => {
      output('received').textContent = String(value);
      if (value === message) {
        off();
        resolve();
      }
    });
  });
  status.textContent = 'writing';
  output('sent').textContent = message;
  await ref.put(message);
  await delivered;
  await db.close();
  status.textContent = 'ok';
}

roundTrip().catch((err: unknown) => {
  output('status').textContent = `error: ${String(err)}`;
  console.error(err);
});
