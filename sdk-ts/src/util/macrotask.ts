/**
 * Runs a callback after the current macrotask, once every pending microtask (promise
 * continuation) has run. Shared by the layers that batch what one macrotask produced:
 * the group commit (persistence/group-commit.ts) waits this long before writing, so the
 * puts that awaiting code issues in response to the previous commit join the next one;
 * the network joins the outbox entries of one macrotask into one PUT.
 *
 * Node has `setImmediate`; browsers get a MessageChannel message, which unlike
 * `setTimeout(0)` is not clamped to 4 ms when nested.
 */

type Callback = () => void;

function messageChannelScheduler(): (callback: Callback) => void {
  const queue: Callback[] = [];
  const channel = new MessageChannel();
  channel.port1.onmessage = () => queue.shift()?.();
  return (callback) => {
    queue.push(callback);
    channel.port2.postMessage(null);
  };
}

const setImmediateFn = (globalThis as { setImmediate?: (callback: Callback) => unknown }).setImmediate;

export const afterMicrotasks: (callback: Callback) => void =
  typeof setImmediateFn === 'function'
    ? (callback) => void setImmediateFn(callback)
    : typeof MessageChannel === 'function'
      ? messageChannelScheduler()
      : (callback) => void setTimeout(callback, 0);
