// Throughput measurement shared by every task.
//
// A measurement is: warm-up (JIT, caches, allocator pools) for `warmupMs`, then
// `samples` timed samples of at least `sampleMs` each. Only the time spent inside
// `run` counts: `prepare` builds the next input (another peer's frame, a fresh
// message) outside the timed region, and `newSample` (also untimed) may start each
// sample on a fresh database, so that every sample measures the same state instead of
// a database that keeps growing for as long as the measurement runs. The median sample
// is the result; min/max and every rate go to the JSON to show how stable it was.

const now = () => performance.now();

/**
 * @param {object} spec
 * @param {(input: any) => number | Promise<number>} spec.run  does one unit of work,
 *        returns how many items (properties, signatures, decisions) it handled
 * @param {() => any} [spec.prepare]  untimed; its result is `run`'s input
 * @param {() => any} [spec.newSample]  untimed; runs before the warm-up and each sample
 * @param {number} spec.warmupMs
 * @param {number} spec.sampleMs
 * @param {number} spec.samples
 */
export async function throughput({ run, prepare, newSample, warmupMs, sampleMs, samples }) {
  // A sample also ends when `prepare` has made it last 20× its timed length.
  const wallCap = sampleMs * 20;
  const sample = async (ms) => {
    if (newSample) await newSample();
    let items = 0;
    let timed = 0;
    const wallStart = now();
    while (timed < ms && now() - wallStart < wallCap) {
      const input = prepare ? await prepare() : undefined;
      const t0 = now();
      const n = run(input);
      items += typeof n === 'number' ? n : await n;
      timed += now() - t0;
    }
    return { items, ms: timed };
  };
  await sample(warmupMs);
  const rates = [];
  let items = 0;
  let ms = 0;
  for (let i = 0; i < samples; i++) {
    const s = await sample(sampleMs);
    rates.push((s.items / s.ms) * 1000);
    items += s.items;
    ms += s.ms;
  }
  return summarize(rates, items, ms);
}

/** For work that cannot be split into small units (a whole fresh database per sample). */
export async function repeated({ once, warmups, samples }) {
  for (let i = 0; i < warmups; i++) await once();
  const rates = [];
  let items = 0;
  let ms = 0;
  for (let i = 0; i < samples; i++) {
    const s = await once();
    rates.push((s.items / s.ms) * 1000);
    items += s.items;
    ms += s.ms;
  }
  return summarize(rates, items, ms);
}

function summarize(rates, items, ms) {
  const sorted = [...rates].sort((a, b) => a - b);
  return {
    perSecond: sorted[Math.floor(sorted.length / 2)],
    min: sorted[0],
    max: sorted[sorted.length - 1],
    samples: rates.length,
    rates: rates.map((r) => Math.round(r)),
    items,
    ms: Math.round(ms),
  };
}

export function gcNow() {
  if (typeof globalThis.gc === 'function') {
    // Twice: the first pass can leave finalizable objects for the second.
    globalThis.gc();
    globalThis.gc();
  }
}
