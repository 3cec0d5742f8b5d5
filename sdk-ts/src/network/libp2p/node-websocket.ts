/**
 * @libp2p/websockets dials with the global `WebSocket`, which Node has only from version
 * 22 (Node 20: only behind --experimental-websocket). Without it every ws:// dial from a
 * Node peer fails with "WebSocket is not defined", so on Node 20 the `ws` package (the
 * one @libp2p/websockets already uses for listening) stands in. Node only.
 */

/** Makes `globalThis.WebSocket` available; a no-op where the runtime has one. */
export async function ensureWebSocket(): Promise<void> {
  if (typeof globalThis.WebSocket === 'function') return;
  // A specifier in a variable: the package ships no types, and the module's default
  // export is checked below instead.
  const specifier = 'ws';
  const module = (await import(specifier)) as { default?: unknown };
  if (typeof module.default !== 'function') {
    throw new Error('the "ws" package does not export a WebSocket class; WebSocket dials need Node 22 or the ws package');
  }
  globalThis.WebSocket = module.default as typeof globalThis.WebSocket;
}
