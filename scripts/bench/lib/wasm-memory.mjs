// The engine's linear memory, for the memory row. wasm-bindgen's Node glue keeps its
// instance private, so this records every WebAssembly instance's exported memory as it
// is created; import this module before the engine loads.

const memories = [];
const Instance = WebAssembly.Instance;

function RecordingInstance(module, imports) {
  const instance = new Instance(module, imports);
  if (instance.exports.memory instanceof WebAssembly.Memory) memories.push(instance.exports.memory);
  return instance;
}
RecordingInstance.prototype = Instance.prototype;
WebAssembly.Instance = RecordingInstance;

/** Bytes of linear memory of the `index`-th instance created, or of all of them. */
export function wasmMemoryBytes(index) {
  if (index !== undefined) return memories[index]?.buffer.byteLength ?? 0;
  return memories.reduce((sum, m) => sum + m.buffer.byteLength, 0);
}

export function wasmInstancesSeen() {
  return memories.length;
}
