// Durable-write throughput with many writes in flight (rows 7 and 9).
//
// A durable write is slow alone (a disk sync, or a batching timer) and fast in company:
// both databases batch the writes waiting at the same moment into one disk write. So
// this keeps `window` writes outstanding at all times (a new one starts as soon as one
// completes) and counts completions per time slice: the rate an app writing steadily
// would see. A write counts when the database says it is durable (its callback), never
// when it was issued.
//
// Slices end on a completion, not on a timer: completions arrive in bursts (a batch
// lands, every write in it resolves), and a slice cut between bursts measures whole
// batches. Warm-up lasts at least `warmupMs` and until a whole window of writes has
// completed (the pipeline is full: with GunDB's signed writes that takes seconds);
// then come `samples` slices of at least `sampleMs`. The result is the rate over all
// the slices together (writes completed ÷ time), with the slowest and fastest slice as
// the spread: slices of a bursty writer vary a lot, their sum does not. The database
// keeps growing for the whole measurement (nothing is reset between slices: reopening
// a store is not the steady state being measured). The writes still in flight at the
// end are not waited for here (the caller closes its database, which waits for them,
// or just exits).
//
// No Node-only API here: the browser rows run this same code in the page.

/**
 * @param {object} spec
 * @param {(i: number, done: (error?: unknown) => void) => void} spec.start
 *        issues write number `i`; calls `done` once, when the write is durable
 * @param {number} spec.window  writes kept outstanding
 * @param {number} spec.warmupMs
 * @param {number} spec.sampleMs
 * @param {number} spec.samples
 * @param {number} [spec.stallMs]  fail when no write completes for this long
 */
export function inFlight({ start, window, warmupMs, sampleMs, samples, stallMs = 60_000 }) {
  const now = () => performance.now();
  return new Promise((resolve, reject) => {
    const rates = [];
    const latencies = [];
    const issuedAt = new Float64Array(1 << 16);
    let issued = 0;
    let completed = 0;
    let outstanding = 0;
    let stopping = false;
    let failed = false;
    let resolved = false;
    let warm = false;
    let sliceStart = now();
    let sliceCount = 0;
    let sliceMs = warmupMs;
    let measuredItems = 0;
    let measuredMs = 0;
    let lastCompletion = now();
    const t0 = sliceStart;

    const watchdog = setInterval(() => {
      if (now() - lastCompletion > stallMs) fail(new Error(`no write completed for ${stallMs} ms (${completed} of ${issued} done)`));
    }, 1000);

    function fail(error) {
      if (failed || resolved) return;
      failed = true;
      stopping = true;
      clearInterval(watchdog);
      reject(error);
    }

    function issue() {
      const i = issued++;
      outstanding++;
      issuedAt[i & 0xffff] = now();
      let called = false;
      try {
        start(i, (error) => {
          if (called) return;
          called = true;
          if (error) return fail(error instanceof Error ? error : new Error(String(error?.err ?? error)));
          complete(i);
        });
      } catch (error) {
        fail(error);
      }
    }

    function complete(i) {
      const t = now();
      lastCompletion = t;
      outstanding--;
      completed++;
      if (failed) return;
      // Latency of every 16th write: enough for percentiles, little bookkeeping.
      if ((i & 15) === 0) latencies.push(t - issuedAt[i & 0xffff]);
      if (!stopping) {
        sliceCount++;
        if (t - sliceStart >= sliceMs && (warm || completed >= window)) {
          if (warm) {
            rates.push((sliceCount / (t - sliceStart)) * 1000);
            measuredItems += sliceCount;
            measuredMs += t - sliceStart;
          }
          sliceStart = t;
          sliceCount = 0;
          sliceMs = sampleMs;
          warm = true;
          if (rates.length === samples) stopping = true;
        }
        if (!stopping) issue();
      }
      if (stopping && !resolved) {
        resolved = true;
        clearInterval(watchdog);
        const sorted = [...rates].sort((a, b) => a - b);
        const lat = latencies.slice(latencies.length >> 2).sort((a, b) => a - b); // past the warm-up quarter
        const pct = (p) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] * 10) / 10 : null);
        resolve({
          perSecond: (measuredItems / measuredMs) * 1000,
          medianSlice: sorted[Math.floor(sorted.length / 2)],
          min: sorted[0],
          max: sorted[sorted.length - 1],
          samples: rates.length,
          rates: rates.map((r) => Math.round(r)),
          items: measuredItems,
          ms: Math.round(measuredMs),
          window,
          writesTotal: completed,
          wallMs: Math.round(now() - t0),
          outstandingAtEnd: outstanding,
          latencyMs: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99) },
        });
      }
    }

    for (let k = 0; k < window; k++) issue();
  });
}
