// switchyard-node.js: the JavaScript authoring kit for switchyard nodes.
//
// A node is a WebAssembly component that plays one role in a pipeline: a
// router picks a branch, a worker does one narrow job, a judge accepts,
// rejects or repairs another node's output. With this kit a node is one
// object with one function; the kit builds the exports componentize-qjs (or
// componentize-js) expects, turns what the function returns into the
// contract's variants, its errors into `node-error` values, and parses the
// task's JSON. A complete judge (app.js):
//
//   import { defineJudge } from "./switchyard-node.js";
//
//   export const { describe, judge } = defineJudge({
//     name: "non-empty",
//     summary: "Rejects an empty reply.",
//     judge: (task, candidate) => (candidate.trim() ? null : "the candidate is empty"),
//   });
//
// Build: `componentize-qjs --wit wit/node@0.2.0 --world judge-node --js
// app.js --sync --stub-wasi -o node.wasm`. `switchyard new ... --lang js`
// writes this file into the project. The kit targets the contract
// `switchyard:node@0.2.0`.
//
// What the kit offers:
// - defineJudge, defineRouter, defineWorker: the node's exports, to
//   re-export under the role's names (`describe` and `judge` / `router` /
//   `worker`) exactly as above;
// - the task handed to the function: `task.input` (parsed JSON),
//   `task.inputText`, `task.meta`, `task.id`, `task.attempt`,
//   `task.feedback`;
// - verdicts accept(), reject(...reasons), repair(value), and what a judge
//   may return instead (null/undefined, a reason, an array of reasons);
//   scored(verdict, score, criteria) adds scores;
// - a judge's optional `checkWindow(task, window)`: checks one window of a
//   streamed output; defining it makes `describe` say `checks-windows`;
// - streamReply(stream, field, base): a worker's reply handing the host an
//   unread model stream;
// - setting(key, fallback), settings(), rawSetting(key): the node's
//   manifest settings, parsed from JSON;
// - log.debug(...) and the other levels;
// - complete(model, prompt, options), request(...), completeBatch([...]),
//   stream(model, prompt, options), embed(model, texts): model calls
//   through the host; tool(name, description, parameters) with the options
//   `tools` and `toolChoice` for tool calling (answers carry `toolCalls`;
//   toolArguments(call) parses one's arguments);
// - `needs: { models, modelCalls, settings }` in a spec: what the node
//   declares it needs, for the operator to review (default: nothing);
// - errors: throw `new InvalidInput("...")` for input or settings the node
//   cannot use; a failed model call throws ModelError; both become the
//   contract's `node-error` values. Any other exception becomes an
//   `internal` error, never a trap.
//
// The kit imports the host's interfaces (`switchyard:node/...`), so it only
// loads inside a component: keep logic you want to unit-test with
// `node --test` in a plain module (see plugins/js/router-language/route.js).

import { all as configAll, get as configGet } from "switchyard:node/config@0.2.0";
import { emit } from "switchyard:node/log@0.2.0";
import {
  complete as hostComplete,
  completeBatch as hostCompleteBatch,
  embed as hostEmbed,
  stream as hostStream,
} from "switchyard:node/models@0.2.0";

// --- errors -------------------------------------------------------------------

/** The task's input or a setting is not what the node accepts: becomes the
 * `invalid-input` node error with this message. */
export class InvalidInput extends Error {}

/** A model call failed (the host already applied retries and fallbacks).
 * `kind` is the contract's case ("timeout", "rate-limited", "unavailable",
 * "denied", "budget-exceeded", "invalid-request"), `detail` the host's text.
 * Thrown by complete(); escaping the node function, it becomes the `model`
 * node error, unchanged. */
export class ModelError extends Error {
  constructor(kind, detail = "") {
    super(detail ? `${kind}: ${detail}` : kind);
    this.kind = kind;
    this.detail = detail;
  }
  /** The contract's `model-error` value. */
  toWit() {
    return this.kind === "timeout" || this.kind === "rate-limited"
      ? { tag: this.kind }
      : { tag: this.kind, val: this.detail };
  }
}

/** Runs `call`, turning what it throws into the contract's node errors. */
function nodeErrors(call) {
  try {
    return call();
  } catch (e) {
    if (e instanceof InvalidInput) throw { tag: "invalid-input", val: e.message };
    if (e instanceof ModelError) throw { tag: "model", val: e.toWit() };
    if (e && typeof e === "object" && typeof e.tag === "string" && !(e instanceof Error)) throw e;
    throw { tag: "internal", val: e && e.stack ? `${e}\n${e.stack}` : String(e) };
  }
}

// --- the task -------------------------------------------------------------------

/** `text` parsed as JSON; throws InvalidInput("<what> is not JSON: ..."). */
export function parseJson(text, what = "candidate") {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidInput(`${what} is not JSON: ${e.message}`);
  }
}

/** One unit of work: `id` (the run's id), `inputText` (the input as JSON
 * text), `input` (parsed on first use; not JSON → InvalidInput), `meta`
 * (run context, an object), `attempt` (0 first, then counts retries after a
 * judge's rejection), `feedback` (that rejection's reasons). */
export class Task {
  constructor(task) {
    this.id = task.id;
    this.inputText = task.input;
    this.metaText = task.meta;
    this.attempt = task.attempt;
    this.feedback = task.feedback;
  }
  get input() {
    if (!("_input" in this)) this._input = parseJson(this.inputText, "task input");
    return this._input;
  }
  get meta() {
    if (!("_meta" in this)) {
      let meta = {};
      try {
        meta = JSON.parse(this.metaText || "{}");
      } catch (e) {
        meta = {};
      }
      this._meta = meta && typeof meta === "object" && !Array.isArray(meta) ? meta : {};
    }
    return this._meta;
  }
}

// --- verdicts ---------------------------------------------------------------------

/** One window of a streamed output, handed to a judge's checkWindow:
 * `text` (what the host releases if every window judge accepts it; plain
 * text, not JSON), `before` (the output before it, already checked and
 * repaired), `index` (0 first), `last` (true for the last window). */
export class Window {
  constructor(window) {
    this.text = window.text;
    this.before = window.before;
    this.index = window.index;
    this.last = window.last;
  }
}

/** The candidate may continue unchanged (returning null or [] means the same). */
export const accept = () => ({ tag: "accept" });

/** The candidate must not continue; the reasons go back to the producing
 * node on a retry. Takes reasons, or one array of them (returning a reason
 * or a non-empty array of reasons means the same). */
export function reject(...reasons) {
  const list = (reasons.length === 1 && Array.isArray(reasons[0]) ? reasons[0] : reasons).map(String);
  return { tag: "reject", val: list.length ? list : ["rejected"] };
}

/** The candidate may continue in this corrected form: a string is taken as
 * JSON text, as is (for a window: the window's new text); any other value
 * is serialised to JSON. */
export const repair = (value) => ({ tag: "repair", val: jsonText(value) });

/** What a judge returns (a verdict, a reason, reasons, null) with scores:
 * `score` overall, usually 0 to 1 (a manifest `min-score` can turn it into
 * the verdict), `criteria` per criterion, e.g. { tone: 0.9 }. E.g.
 * `return scored(reject("rude"), 0.2, { tone: 0.1 })`. */
export function scored(value, score, criteria = {}) {
  return {
    verdict: asVerdict(value),
    score: score == null ? null : Number(score),
    criteria: Object.entries(criteria).map(([name, s]) => ({ name, score: Number(s) })),
  };
}

const jsonText = (value) => (typeof value === "string" ? value : JSON.stringify(value));

function asVerdict(value) {
  if (value == null) return accept();
  if (value.verdict !== undefined) throw new TypeError("scored(...) cannot be scored again");
  if (typeof value === "string") return reject(value);
  if (Array.isArray(value)) return value.length ? reject(value) : accept();
  if (value.tag === "accept" || value.tag === "reject" || value.tag === "repair") return value;
  throw new TypeError("a judge returns null, a reason, an array of reasons, accept(), reject(...), repair(...) or scored(...)");
}

/** What a judge returned, as the contract's judgement. */
function asJudgement(value) {
  if (value != null && typeof value === "object" && value.verdict !== undefined) return value;
  return { verdict: asVerdict(value), score: null, criteria: [] };
}

// --- settings ---------------------------------------------------------------------

/** The setting `key` as JSON text, or null if the manifest does not set it. */
export const rawSetting = (key) => configGet(key) ?? null;

const jsonType = (v) => (v === null ? "null" : Array.isArray(v) ? "an array" : `a ${typeof v}`);

/** The setting `key` parsed from JSON (`model = "small"` gives "small"), or
 * `fallback` when it is not set. With a fallback other than null/undefined
 * the value must have the same JSON type. A malformed value throws
 * InvalidInput naming the setting. */
export function setting(key, fallback) {
  const raw = rawSetting(key);
  if (raw == null) return fallback;
  const value = parseJson(raw, `setting \`${key}\``);
  if (fallback != null && jsonType(value) !== jsonType(fallback)) {
    throw new InvalidInput(`setting \`${key}\` must be ${jsonType(fallback)}, not ${jsonType(value)}`);
  }
  return value;
}

/** Every setting as an object of parsed JSON values. */
export function settings() {
  const out = {};
  for (const [key, raw] of configAll()) out[key] = parseJson(raw, `setting \`${key}\``);
  return out;
}

// --- logging ----------------------------------------------------------------------

/** Levelled logging into the host's tracing, prefixed with the node's name.
 * The host limits the volume per call (`limits.log-kb`): log sparingly, and
 * never personal data from the task. */
export const log = {
  trace: (message) => emit("trace", String(message)),
  debug: (message) => emit("debug", String(message)),
  info: (message) => emit("info", String(message)),
  warn: (message) => emit("warn", String(message)),
  error: (message) => emit("error", String(message)),
};

// --- models -----------------------------------------------------------------------

/** A tool the model may ask to call: its name, what it does, and the JSON
 * Schema of its arguments (an object or JSON text). Pass an array of them
 * as the `tools` option. The host never runs a tool: the node runs it and
 * sends the result back as a ["tool", text, callId] message, or returns the
 * call as its output. */
export const tool = (name, description, parameters) => ({ name, description, parameters: jsonText(parameters) });

/** A tool call's arguments (from an answer's `toolCalls`), parsed from
 * JSON; the model wrote them, so malformed JSON throws InvalidInput. */
export const toolArguments = (call) => parseJson(call.arguments, `arguments of tool call \`${call.name}\``);

function toolChoice(choice) {
  if (choice == null || choice === "auto") return { tag: "auto" };
  if (choice === "none" || choice === "required") return { tag: choice };
  return { tag: "named", val: String(choice) };
}

/** A message from [role, text], ["assistant", text, toolCalls] or
 * ["tool", text, callId]. */
function message([role, content, extra]) {
  return {
    role,
    content: String(content),
    toolCalls: role === "assistant" && extra ? extra : [],
    toolCallId: role === "tool" && extra != null ? String(extra) : null,
  };
}

/** A completion request for completeBatch (same arguments as complete). */
export function request(model, prompt, options = {}) {
  const messages = [];
  if (options.system != null) messages.push(message(["system", options.system]));
  for (const turn of options.messages ?? []) messages.push(message(turn));
  if (prompt != null) messages.push(message(["user", prompt]));
  const responseFormat =
    options.jsonSchema != null
      ? { tag: "json-schema", val: jsonText(options.jsonSchema) }
      : options.jsonObject
        ? { tag: "json-object" }
        : { tag: "text" };
  return {
    model,
    messages,
    maxTokens: options.maxTokens ?? null,
    temperature: options.temperature ?? null,
    responseFormat,
    tools: options.tools ?? [],
    toolChoice: toolChoice(options.toolChoice),
    extraJson: options.extra ? JSON.stringify(options.extra) : "",
  };
}

function modelError(e) {
  const payload = e && typeof e === "object" && "payload" in e ? e.payload : e;
  if (payload && typeof payload.tag === "string") return new ModelError(payload.tag, payload.val ?? "");
  return new ModelError("unavailable", String(e));
}

/** Asks `model` (its manifest name; the node must be granted it) and returns
 * the answer: `{ content, model, usage: { inputTokens, outputTokens },
 * toolCalls: [{ id, name, arguments }], finishReason }` (`model` is the one
 * that answered, after any fallback; `finishReason` "stop", "length",
 * "tool-calls", "content-filter" or "other"). `prompt` is the user message.
 * Options: `system`, `messages` (earlier turns, sent before `prompt`:
 * [role, text] pairs, ["assistant", text, toolCalls] for an answer that
 * called tools, ["tool", resultText, callId] for a tool's result),
 * `maxTokens`, `temperature`, `jsonSchema` (an object or JSON text),
 * `jsonObject: true`, `tools` (an array of tool(...)), `toolChoice`
 * ("auto", "none", "required" or a tool's name), `extra` (extra sampling
 * parameters, on the host's allow-list). Throws ModelError. */
export function complete(model, prompt, options = {}) {
  try {
    return hostComplete(request(model, prompt, options));
  } catch (e) {
    throw modelError(e);
  }
}

/** Sends several request(...)s at once (the host runs them concurrently);
 * returns, in order, each answer or its ModelError (returned, not thrown). */
export function completeBatch(requests) {
  return hostCompleteBatch(requests).map((r) => {
    if (r && r.tag === "err") return modelError({ payload: r.val });
    if (r && r.tag === "ok") return r.val;
    return r;
  });
}

/** A streamed answer, from stream(...). Either hand it to the host unread
 * as a worker's reply (`return streamReply(s, "reply")`), or read it:
 * iterating (`for (const delta of s)`) yields the text deltas (a failure
 * throws ModelError), after which `completion` holds the end of the answer
 * (model, usage, toolCalls, finishReason); text() reads it all. */
export class Stream {
  constructor(resource) {
    this.resource = resource;
    this.completion = null;
  }
  *[Symbol.iterator]() {
    for (;;) {
      const item = this.resource.next();
      if (item == null) return;
      if (item.tag === "err") throw modelError({ payload: item.val });
      const chunk = item.tag === "ok" ? item.val : item;
      if (chunk.tag === "done") {
        this.completion = chunk.val;
        return;
      }
      yield chunk.val;
    }
  }
  /** Reads the rest of the stream; returns its text. */
  text() {
    let out = "";
    for (const delta of this) out += delta;
    return out;
  }
}

/** Starts a streamed completion (same arguments as complete), granted,
 * budgeted and retried like it; returns a Stream. Throws ModelError. */
export function stream(model, prompt, options = {}) {
  try {
    return new Stream(hostStream(request(model, prompt, options)));
  } catch (e) {
    throw modelError(e);
  }
}

/** Embeds `texts` (strings) with the embedding `model` (its manifest name):
 * `{ vectors, model, usage }`, one vector per text, in order. Throws
 * ModelError. */
export function embed(model, texts) {
  try {
    return hostEmbed({ model, inputs: texts.map(String) });
  } catch (e) {
    throw modelError(e);
  }
}

/** A worker's reply: the Stream `body`, unread; the host releases its text
 * window by window, each after the window judges accepted it. The output
 * is the text as a JSON string or, with `field`, the object `base` (an
 * object or JSON text; default {}) with the text under `field`. */
export function streamReply(body, field, base) {
  if (!(body instanceof Stream)) throw new TypeError("streamReply takes the Stream that stream(...) returned");
  return { streamReply: true, body, field: field ?? null, base: base == null ? "" : jsonText(base) };
}

function asReply(value) {
  if (value && value.streamReply === true && value.body instanceof Stream) {
    return { tag: "stream", val: { body: value.body.resource, field: value.field, base: value.base } };
  }
  return { tag: "json", val: jsonText(value) };
}

// --- the node ---------------------------------------------------------------------

function describeExport(role, spec) {
  if (typeof spec.name !== "string" || !spec.name) throw new TypeError(`define${role}: \`name\` is required`);
  const schema = (s) => (s == null ? null : jsonText(s));
  const needs = spec.needs ?? {};
  const unknown = Object.keys(needs).filter((k) => !["models", "modelCalls", "settings"].includes(k));
  if (unknown.length) throw new TypeError(`define${role}: \`needs\` takes models, modelCalls and settings, not ${unknown}`);
  const description = {
    role: role.toLowerCase(),
    name: spec.name,
    version: spec.version ?? "0.1.0",
    summary: spec.summary ?? "",
    inputSchema: schema(spec.inputSchema),
    outputSchema: schema(spec.outputSchema),
    needs: {
      models: (needs.models ?? []).map(String),
      modelCalls: needs.modelCalls ?? null,
      settings: (needs.settings ?? []).map(String),
    },
    checksWindows: role === "Judge" && typeof spec.checkWindow === "function",
  };
  return { describe: () => description };
}

/** The exports of a judge: `{ describe, judge }`. `spec`: `name`, and
 * optionally `version` ("0.1.0"), `summary`, `inputSchema`, `outputSchema`
 * (objects or JSON text), `needs` ({ models, modelCalls, settings }), and
 * `judge(task, candidate)`: `candidate` is the output to judge as JSON text
 * (parseJson(candidate) parses it). Return null or accept() to let it
 * through; a reason, an array of reasons or reject(...) to reject it (an
 * empty array accepts); repair(value) to replace it; scored(...) around
 * any of them to add scores. Optionally `checkWindow(task, window)`: judges
 * one window of a streamed output (a Window), returning the same; a
 * repair(text) replaces the window's text. Defining it makes `describe`
 * say `checks-windows`. */
export function defineJudge(spec) {
  return {
    describe: describeExport("Judge", spec),
    judge: {
      judge: (task, candidate) => nodeErrors(() => asJudgement(spec.judge(new Task(task), candidate))),
      checkWindow: (task, window) =>
        nodeErrors(() => {
          if (typeof spec.checkWindow !== "function") throw new Error("this judge does not check windows (no checkWindow)");
          return asJudgement(spec.checkWindow(new Task(task), new Window(window)));
        }),
    },
  };
}

function asDecision(value) {
  if (typeof value === "string") return { target: value, confidence: 1, reason: "" };
  if (Array.isArray(value) && value.length === 3) value = { target: value[0], confidence: value[1], reason: value[2] };
  if (value && typeof value.target === "string") {
    return { target: value.target, confidence: Number(value.confidence ?? 1), reason: String(value.reason ?? "") };
  }
  throw new TypeError("a router returns a label, { target, confidence, reason } or [target, confidence, reason]");
}

/** The exports of a router: `{ describe, router }`. `spec` as for
 * defineJudge, with `route(task, candidates)`: `candidates` are the branch
 * labels the manifest declares (never empty: the kit answers
 * `invalid-input` itself otherwise). Return one of them: the label, or
 * `{ target, confidence, reason }`. */
export function defineRouter(spec) {
  return {
    describe: describeExport("Router", spec),
    router: {
      route: (task, candidates) =>
        nodeErrors(() => {
          if (candidates.length === 0) throw new InvalidInput("no candidates to choose from");
          return asDecision(spec.route(new Task(task), candidates));
        }),
    },
  };
}

/** The exports of a worker: `{ describe, worker }`. `spec` as for
 * defineJudge, with `run(task)`: return the output, any JSON value
 * (serialised for you), a string, taken as JSON text as is, or
 * streamReply(stream(...), field) to hand the host a model stream. */
export function defineWorker(spec) {
  return {
    describe: describeExport("Worker", spec),
    worker: { run: (task) => nodeErrors(() => asReply(spec.run(new Task(task)))) },
  };
}
