// A stand-in for the host's interfaces (`switchyard:node/...`), so the kit
// loads under plain node for its unit tests (switchyard-node.test.mjs).
export const settingsMap = new Map([["banned", '["TODO"]']]);
export const get = (key) => settingsMap.get(key) ?? null;
export const all = () => [...settingsMap];
export const emit = () => {};
export const complete = (r) => ({
  content: "hi",
  model: r.model,
  usage: { inputTokens: 1, outputTokens: 1 },
  toolCalls: [],
  finishReason: "stop",
});
export const completeBatch = (rs) => rs.map((r) => ({ tag: "ok", val: complete(r) }));
export class CompletionStream {
  constructor(chunks) {
    this.chunks = chunks;
  }
  next() {
    return this.chunks.length ? this.chunks.shift() : null;
  }
}
export const stream = (r) =>
  new CompletionStream([
    { tag: "ok", val: { tag: "delta", val: "Hel" } },
    { tag: "ok", val: { tag: "delta", val: "lo" } },
    { tag: "ok", val: { tag: "done", val: complete(r) } },
  ]);
export const embed = (r) => ({ vectors: r.inputs.map(() => [0.5]), model: r.model, usage: { inputTokens: 1, outputTokens: 0 } });
