/**
 * libp2p 3 and its helper packages (it-queue, mortice, yamux, noise, webrtc…) call
 * `Promise.withResolvers` (ES2024) at run time. Node 22 has it; Node 20, which this
 * package supports, does not, and every node would fail on its first peer-store write
 * with "Promise.withResolvers is not a function". Browsers have had it since 2024.
 *
 * A function to call, not an import for its side effect: the package declares
 * `"sideEffects": false`, so a bundler may drop a side-effect-only import.
 */

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

/** Defines `Promise.withResolvers` (as the spec does) where the runtime lacks it. */
export function ensurePromiseWithResolvers(): void {
  if (typeof (Promise as { withResolvers?: unknown }).withResolvers === 'function') return;
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    // `this`, not Promise: the spec method also works on subclasses.
    value: function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new this<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
