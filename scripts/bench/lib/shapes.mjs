// The data both databases write, receive and store: nodes of five properties with
// the value types real apps use (short and medium strings, an integer, a fraction, a
// boolean). Every row of the benchmark uses these shapes on both sides.

export const PROPS_PER_NODE = 5;

const FILLER = 'the quick brown fox jumps over the lazy dog';

export function nodeProps(i) {
  return {
    title: `item ${i}`,
    body: `${FILLER} #${i}`,
    count: i,
    score: i * 0.25 + 0.1,
    done: (i & 1) === 0,
  };
}

/** A run-unique prefix, so repeated writes always create new properties. */
let runCounter = 0;
export function soulPrefix(tag) {
  runCounter += 1;
  return `bench/${tag}/${process.pid}-${runCounter}`;
}
