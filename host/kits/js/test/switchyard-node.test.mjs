// Native unit tests of the JavaScript kit, on a stand-in host:
//   node --import ./test/register.mjs --test test/switchyard-node.test.mjs
// from host/kits/js (plugins/js/router-language/build.sh runs them).
import assert from "node:assert/strict";
import { test } from "node:test";

import * as kit from "../switchyard-node.js";

const task = { id: "1", input: "{}", meta: "{}", attempt: 0, feedback: [] };
const window = (text, last = false) => ({ text, before: "", index: 0, last });

test("judge answers a judgement, scored or not", () => {
  const j = kit.defineJudge({
    name: "j",
    judge: (t, c) => (c === "x" ? kit.scored(kit.reject("bad"), 0.2, { tone: 0.1 }) : c === "y" ? ["a", "b"] : null),
  });
  assert.deepEqual(j.judge.judge(task, "x"), {
    verdict: { tag: "reject", val: ["bad"] },
    score: 0.2,
    criteria: [{ name: "tone", score: 0.1 }],
  });
  assert.deepEqual(j.judge.judge(task, "y").verdict, { tag: "reject", val: ["a", "b"] });
  assert.deepEqual(j.judge.judge(task, "z"), { verdict: { tag: "accept" }, score: null, criteria: [] });
});

test("checkWindow is declared by defining it", () => {
  const j = kit.defineJudge({ name: "j", judge: () => null, checkWindow: (t, w) => kit.repair(w.text.toUpperCase()) });
  assert.equal(j.describe.describe().checksWindows, true);
  assert.deepEqual(j.judge.checkWindow(task, window("ab", true)).verdict, { tag: "repair", val: "AB" });
  const plain = kit.defineJudge({ name: "p", judge: () => null });
  assert.equal(plain.describe.describe().checksWindows, false);
  assert.throws(() => plain.judge.checkWindow(task, window("ab")), (e) => e.tag === "internal");
});

test("needs default to nothing and are checked", () => {
  const d = kit.defineJudge({ name: "j", judge: () => null }).describe.describe();
  assert.deepEqual(d.needs, { models: [], modelCalls: null, settings: [] });
  const w = kit.defineWorker({ name: "w", run: () => 1, needs: { models: ["chat"], modelCalls: 1 } });
  assert.deepEqual(w.describe.describe().needs, { models: ["chat"], modelCalls: 1, settings: [] });
  assert.throws(() => kit.defineWorker({ name: "w", run: () => 1, needs: { model: ["chat"] } }), TypeError);
});

test("worker replies with JSON or an unread stream", () => {
  const w = kit.defineWorker({
    name: "w",
    run: (t) => (t.input.s ? kit.streamReply(kit.stream("small", "hi"), "reply", { model: "small" }) : { reply: "x" }),
  });
  assert.deepEqual(w.worker.run(task), { tag: "json", val: '{"reply":"x"}' });
  const r = w.worker.run({ ...task, input: '{"s":1}' });
  assert.equal(r.tag, "stream");
  assert.deepEqual([r.val.field, r.val.base, r.val.body.chunks.length], ["reply", '{"model":"small"}', 3]);
  assert.throws(() => kit.streamReply("text", "reply"), TypeError);
});

test("streams read as deltas, embeddings and tools", () => {
  const s = kit.stream("small", "hi");
  assert.equal(s.text(), "Hello");
  assert.equal(s.completion.finishReason, "stop");
  assert.deepEqual(kit.embed("e", ["a", "b"]).vectors, [[0.5], [0.5]]);
  const req = kit.request("m", "q", {
    tools: [kit.tool("lookup", "finds an order", { type: "object" })],
    toolChoice: "lookup",
    messages: [["tool", "42", "call-1"]],
  });
  assert.deepEqual(req.toolChoice, { tag: "named", val: "lookup" });
  assert.equal(req.tools[0].parameters, '{"type":"object"}');
  assert.deepEqual([req.messages[0].role, req.messages[0].toolCallId, req.messages[1].toolCallId], ["tool", "call-1", null]);
  assert.deepEqual(kit.request("m", "q").toolChoice, { tag: "auto" });
  assert.deepEqual(kit.toolArguments({ name: "f", arguments: '{"a":1}' }), { a: 1 });
  assert.throws(() => kit.toolArguments({ name: "f", arguments: "{" }), kit.InvalidInput);
});

test("settings are parsed and typed", () => {
  assert.deepEqual(kit.setting("banned", []), ["TODO"]);
  assert.equal(kit.setting("missing", 3), 3);
  assert.throws(() => kit.setting("banned", "x"), kit.InvalidInput);
});
