/**
 * Calling application callbacks: one that throws must not stop the others, nor the
 * write, batch or network event that called them. Its error is rethrown on its own
 * (a later microtask), where the host reports it as uncaught.
 */

/**
 * The one way an error that has no caller to reject leaves the SDK (a throwing
 * listener, a subscription whose load failed, a background eviction run): rethrown in
 * a microtask of its own, so the host reports it as uncaught.
 */
export function reportListenerError(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** Calls every listener with `event` (a copy of the set, so listeners may unsubscribe). */
export function notifyAll<E>(listeners: ReadonlySet<(event: E) => void>, event: E): void {
  if (listeners.size === 0) return;
  for (const listener of [...listeners]) {
    try {
      listener(event);
    } catch (error) {
      reportListenerError(error);
    }
  }
}
