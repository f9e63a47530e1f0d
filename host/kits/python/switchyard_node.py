"""switchyard_node: the Python authoring kit for switchyard nodes.

A node is a WebAssembly component that plays one role in a pipeline: a
router picks a branch, a worker does one narrow job, a judge accepts,
rejects or repairs another node's output. With this kit a node is one plain
function under a decorator; the kit owns the componentize-py bindings
(`wit_world`), the result and variant plumbing, and JSON parsing. A
complete judge (the module componentize-py builds, e.g. `app.py`):

    from switchyard_node import judge

    @judge("non-empty", summary="Rejects an empty reply.")
    def check(task, candidate):
        if not candidate.strip():
            return "the candidate is empty"      # reject with this reason

Build: `componentize-py -d wit/node@0.2.0 -w judge-node componentize app
-p . --stub-wasi -o node.wasm` with this file beside `app.py` (or on a
`-p` path). `switchyard new ... --lang python` writes it into the project.
The kit targets the contract `switchyard:node@0.2.0`.

What the kit offers:

* decorators `judge`, `router`, `worker`: register the decorated function
  as the node and state its `describe` answer (name, version, summary,
  schemas). Use exactly one per component, in the module componentize-py
  builds: it adds the classes componentize-py looks for (`WitWorld`,
  `Describe` and the role's `Judge`/`Router`/`Worker`) to that module. The
  decorator returns the function unchanged, so it stays callable in native
  unit tests;
* `Task`: the task with its `input` parsed from JSON;
* verdicts `accept()`, `reject(*reasons)`, `repair(value)`, each with
  optional `score=` and `criteria={name: score}`, and what a judge may
  return instead (None, a reason, a list of reasons);
* `@check_window`: a judge's check of one window of a streamed output
  (`Window`: `text`, `before`, `index`, `last`); declaring it makes
  `describe` say `checks-windows`;
* `stream_reply(stream, field=None, base=None)`: a worker's reply that
  hands the host an unread model stream;
* `setting(key, default)`, `settings()`, `raw_setting(key)`: the node's
  manifest settings, parsed from JSON;
* `log.debug(...)` and the other levels;
* `complete(model, prompt, ...)`, `request(...)`, `complete_batch([...])`,
  `stream(model, prompt, ...)`, `embed(model, texts)`: model calls through
  the host; `tool(name, description, parameters)` and `tools=`,
  `tool_choice=` for tool calling (answers carry `.tool_calls`; parse
  one's arguments with `tool_arguments(call)`);
* `needs=` on the decorators: what the node declares it needs (models,
  model calls, settings keys), for the operator to review;
* errors: raise `InvalidInput("...")` for input or settings the node cannot
  use; a failed model call raises `ModelError`; both become the contract's
  `node-error` values. Any other exception becomes an `internal` error
  naming its type, never a trap.

Outside a component (`python3 -m unittest`) there is no host: `setting`
reads `NATIVE_SETTINGS`, `log` writes to stderr, and model calls raise
`ModelError("unavailable", ...)`.
"""

import json
import sys

try:  # inside a component, built by componentize-py
    from componentize_py_types import Err as _Err
    from wit_world.imports import config as _config
    from wit_world.imports import log as _log
    from wit_world.imports import models as _models
    from wit_world.imports import types as _types

    IN_COMPONENT = True
except ImportError:  # native: unit tests
    _Err = _config = _log = _models = _types = None
    IN_COMPONENT = False

__all__ = [
    "IN_COMPONENT",
    "NATIVE_SETTINGS",
    "InvalidInput",
    "ModelError",
    "Stream",
    "Task",
    "Verdict",
    "Window",
    "accept",
    "check_window",
    "complete",
    "complete_batch",
    "embed",
    "judge",
    "log",
    "parse_json",
    "raw_setting",
    "reject",
    "repair",
    "request",
    "router",
    "setting",
    "settings",
    "stream",
    "stream_reply",
    "tool",
    "tool_arguments",
    "worker",
]

# Settings used outside a component: key -> JSON text, as the host passes
# them (e.g. {"banned": '["TODO"]'}). Tests may fill it.
NATIVE_SETTINGS = {}


# --- errors -------------------------------------------------------------------


class InvalidInput(Exception):
    """The task's input or a setting is not what the node accepts: becomes
    the `invalid-input` node error with this message."""


class ModelError(Exception):
    """A model call failed (the host already applied retries and fallbacks).

    `kind` is the contract's case: "timeout", "rate-limited", "unavailable",
    "denied", "budget-exceeded" or "invalid-request"; `message` the host's
    text (empty for the first two). Raised by `complete`; escaping the node
    function, it becomes the `model` node error, unchanged.
    """

    def __init__(self, kind, message="", value=None):
        super().__init__("%s: %s" % (kind, message) if message else kind)
        self.kind = kind
        self.message = message
        self.value = value  # the wit_world value, inside a component


# --- the task -------------------------------------------------------------------


def parse_json(text, what="candidate"):
    """`text` parsed as JSON; raises `InvalidInput("<what> is not JSON: ...")`."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise InvalidInput("%s is not JSON: %s" % (what, e)) from None


class Task:
    """One unit of work handed to the node.

    Attributes: `id` (the run's id), `input_text` (the input as JSON text),
    `meta_text` (run context, a JSON object as text), `attempt` (0 first,
    then counts retries after a judge's rejection), `feedback` (the reasons
    of that rejection). `input` and `meta` are the parsed JSON, parsed on
    first use; input that is not JSON raises `InvalidInput`.
    """

    def __init__(self, input_text, id="task", meta_text="{}", attempt=0, feedback=()):
        self.id = id
        self.input_text = input_text
        self.meta_text = meta_text
        self.attempt = attempt
        self.feedback = list(feedback)

    @property
    def input(self):
        """The task input, parsed from JSON."""
        if not hasattr(self, "_input"):
            self._input = parse_json(self.input_text, "task input")
        return self._input

    @property
    def meta(self):
        """The run context (route taken, pipeline name, ...), a dict; {} if
        the host sent none."""
        if not hasattr(self, "_meta"):
            try:
                meta = json.loads(self.meta_text) if self.meta_text else {}
            except ValueError:
                meta = {}
            self._meta = meta if isinstance(meta, dict) else {}
        return self._meta

    @classmethod
    def _from_wit(cls, task):
        return cls(task.input, task.id, task.meta, task.attempt, task.feedback)


class Window:
    """One window of a streamed output, for a `@check_window` function:
    `text` (what the host releases if every window judge accepts it; plain
    text, not JSON), `before` (the output before it, already checked and
    repaired), `index` (0 first) and `last` (True for the last window)."""

    def __init__(self, text, before="", index=0, last=False):
        self.text = text
        self.before = before
        self.index = index
        self.last = last

    @classmethod
    def _from_wit(cls, window):
        return cls(window.text, window.before, window.index, window.last)


# --- verdicts ----------------------------------------------------------------------


class Verdict:
    """A judge's decision: `kind` is "accept", "reject" (with `reasons`) or
    "repair" (with `candidate`, JSON text; for a window, its new text),
    with an optional overall `score` and per-criterion `criteria` (a dict
    of name to score). Build one with `accept()`, `reject(...)` or
    `repair(...)`."""

    def __init__(self, kind, reasons=(), candidate=None, score=None, criteria=None):
        self.kind = kind
        self.reasons = list(reasons)
        self.candidate = candidate
        self.score = None if score is None else float(score)
        self.criteria = {str(k): float(v) for k, v in (criteria or {}).items()}

    def _key(self):
        return (self.kind, self.reasons, self.candidate, self.score, self.criteria)

    def __eq__(self, other):
        return isinstance(other, Verdict) and self._key() == other._key()

    def __repr__(self):
        args = []
        if self.kind == "reject":
            args = [repr(r) for r in self.reasons]
        elif self.kind == "repair":
            args = [repr(self.candidate)]
        if self.score is not None:
            args.append("score=%r" % self.score)
        if self.criteria:
            args.append("criteria=%r" % self.criteria)
        return "%s(%s)" % (self.kind, ", ".join(args))


def accept(score=None, criteria=None):
    """The candidate may continue unchanged. (Returning None, or an empty
    list, from a judge means the same.) `score`: the overall score, usually
    0.0 to 1.0 (a manifest `min-score` can turn it into the verdict);
    `criteria`: per-criterion scores, e.g. {"tone": 0.9}."""
    return Verdict("accept", score=score, criteria=criteria)


def reject(*reasons, score=None, criteria=None):
    """The candidate must not continue; the reasons go back to the producing
    node on a retry. Takes reasons, or one list of them. (Returning a reason,
    or a non-empty list of reasons, from a judge means the same.) `score`
    and `criteria` as for `accept`."""
    if len(reasons) == 1 and isinstance(reasons[0], (list, tuple)):
        reasons = reasons[0]
    return Verdict("reject", [str(r) for r in reasons] or ["rejected"], score=score, criteria=criteria)


def repair(value, score=None, criteria=None):
    """The candidate may continue in this corrected form: a str is taken as
    JSON text, as is (for a window: the window's new text); any other value
    is serialised to JSON. `score` and `criteria` as for `accept`."""
    return Verdict("repair", candidate=_json_text(value), score=score, criteria=criteria)


def _json_text(value):
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _as_verdict(value):
    """What a judge function returned, as a Verdict."""
    if value is None:
        return accept()
    if isinstance(value, Verdict):
        return value
    if isinstance(value, str):
        return reject(value)
    if isinstance(value, (list, tuple)):
        return reject(*value) if value else accept()
    raise TypeError(
        "a judge returns None, a reason, a list of reasons, accept(), reject(...) or "
        "repair(...), not %s" % type(value).__name__
    )


def _judgement(verdict):
    """A Verdict as the contract's judgement."""
    if verdict.kind == "reject":
        v = _types.Verdict_Reject(verdict.reasons)
    elif verdict.kind == "repair":
        v = _types.Verdict_Repair(verdict.candidate)
    else:
        v = _types.Verdict_Accept()
    criteria = [_types.Criterion(name=k, score=s) for k, s in verdict.criteria.items()]
    return _types.Judgement(verdict=v, score=verdict.score, criteria=criteria)


# --- settings ----------------------------------------------------------------------


def raw_setting(key):
    """The setting `key` as JSON text, or None if the manifest does not set it."""
    if IN_COMPONENT:
        return _config.get(key)
    return NATIVE_SETTINGS.get(key)


def setting(key, default=None):
    """The setting `key` parsed from JSON (`model = "small"` in the manifest
    gives "small"), or `default` if it is not set. If `default` is not None,
    the value must have the same JSON type (a list for a list, a number for
    a number, ...). A malformed value raises `InvalidInput` naming the
    setting."""
    raw = raw_setting(key)
    if raw is None:
        return default
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise InvalidInput("setting `%s` is not JSON: %s" % (key, e)) from None
    if default is not None and not _same_json_type(value, default):
        raise InvalidInput(
            "setting `%s` must be %s, not %s" % (key, _json_type(default), _json_type(value))
        )
    return value


def settings():
    """Every setting as a dict of parsed JSON values."""
    pairs = _config.all() if IN_COMPONENT else sorted(NATIVE_SETTINGS.items())
    out = {}
    for key, raw in pairs:
        try:
            out[key] = json.loads(raw)
        except ValueError as e:
            raise InvalidInput("setting `%s` is not JSON: %s" % (key, e)) from None
    return out


def _json_type(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), "null")


def _same_json_type(value, default):
    return _json_type(value) == _json_type(default)


# --- logging -----------------------------------------------------------------------


class _Log:
    """Levelled logging into the host's tracing, prefixed with the node's
    name: `log.debug("...")`, `log.info`, `log.warn`, `log.error`,
    `log.trace`. The host limits the volume per call (`limits.log-kb`):
    log sparingly, and never personal data from the task."""

    @staticmethod
    def _emit(level, message):
        if IN_COMPONENT:
            _log.emit(getattr(_log.Level, level.upper()), str(message))
        else:
            print("[%s] %s" % (level, message), file=sys.stderr)

    def trace(self, message):
        """A very detailed diagnostic line."""
        self._emit("trace", message)

    def debug(self, message):
        """A diagnostic line."""
        self._emit("debug", message)

    def info(self, message):
        """A line about normal operation."""
        self._emit("info", message)

    def warn(self, message):
        """Something unexpected that the node handled."""
        self._emit("warn", message)

    def error(self, message):
        """Something that failed."""
        self._emit("error", message)


log = _Log()


# --- models ------------------------------------------------------------------------


def tool(name, description, parameters):
    """A tool the model may ask to call: its name, what it does, and the
    JSON Schema of its arguments (a dict or JSON text). Pass a list of them
    as `tools=` to `complete`, `request` or `stream`. The host never runs a
    tool: the node runs it and sends the result back as a ("tool", text,
    call_id) message, or returns the call as its output."""
    if not IN_COMPONENT:
        return dict(name=name, description=description, parameters=_json_text(parameters))
    return _types.ToolDefinition(name=name, description=description, parameters=_json_text(parameters))


def tool_arguments(call):
    """A tool call's arguments (from an answer's `.tool_calls`), parsed
    from JSON; the model wrote them, so malformed JSON raises
    `InvalidInput`."""
    return parse_json(call.arguments, "arguments of tool call `%s`" % call.name)


def _tool_choice(choice):
    if choice in (None, "auto"):
        return _types.ToolChoice_Auto()
    if choice == "none":
        return _types.ToolChoice_None_()
    if choice == "required":
        return _types.ToolChoice_Required()
    return _types.ToolChoice_Named(str(choice))


def _message(turn):
    """A message from ("user" | "assistant" | "system", text), ("assistant",
    text, [tool calls]) or ("tool", text, call_id)."""
    roles = {
        "system": _types.Role.SYSTEM,
        "user": _types.Role.USER,
        "assistant": _types.Role.ASSISTANT,
        "tool": _types.Role.TOOL,
    }
    role, content = turn[0], str(turn[1])
    extra = turn[2] if len(turn) > 2 else None
    calls = list(extra) if role == "assistant" and extra else []
    call_id = str(extra) if role == "tool" and extra is not None else None
    return _types.Message(role=roles[role], content=content, tool_calls=calls, tool_call_id=call_id)


def request(
    model,
    prompt=None,
    *,
    system=None,
    messages=(),
    max_tokens=None,
    temperature=None,
    json_schema=None,
    json_object=False,
    tools=(),
    tool_choice=None,
    extra=None,
):
    """A completion request for `complete_batch` (same arguments as
    `complete`)."""
    if not IN_COMPONENT:
        return dict(model=model, prompt=prompt, system=system)
    msgs = []
    if system is not None:
        msgs.append(_message(("system", system)))
    for turn in messages:
        msgs.append(_message(turn))
    if prompt is not None:
        msgs.append(_message(("user", prompt)))
    if json_schema is not None:
        fmt = _types.ResponseFormat_JsonSchema(_json_text(json_schema))
    elif json_object:
        fmt = _types.ResponseFormat_JsonObject()
    else:
        fmt = _types.ResponseFormat_Text()
    return _types.CompletionRequest(
        model=model,
        messages=msgs,
        max_tokens=max_tokens,
        temperature=temperature,
        response_format=fmt,
        tools=list(tools),
        tool_choice=_tool_choice(tool_choice),
        extra_json=json.dumps(extra) if extra else "",
    )


def complete(model, prompt=None, **options):
    """Asks `model` (its name in the manifest; the node must be granted it)
    and returns its answer: `.content` (text), `.model` (the model that
    answered, after any fallback), `.usage.input_tokens`/`.output_tokens`,
    `.tool_calls` (each with `.id`, `.name`, `.arguments`) and
    `.finish_reason`.

    `prompt` is the user message. Options: `system` (instructions),
    `messages` (earlier turns, sent before `prompt`: ("user" | "assistant"
    | "system", text) pairs, ("assistant", text, tool_calls) for an answer
    that called tools, ("tool", result_text, call_id) for a tool's result),
    `max_tokens`, `temperature`, `json_schema` (a dict or JSON text: answer
    in that shape), `json_object=True` (any JSON object), `tools` (a list
    of `tool(...)`), `tool_choice` ("auto", "none", "required" or a tool's
    name), `extra` (a dict of extra sampling parameters, on the host's
    allow-list). Raises `ModelError`.
    """
    if not IN_COMPONENT:
        raise ModelError("unavailable", "no host: models are only reachable inside a component")
    try:
        return _models.complete(request(model, prompt, **options))
    except _Err as e:
        raise _model_error(e.value) from None


def complete_batch(requests):
    """Sends several `request(...)`s at once (the host runs them
    concurrently); returns, in order, each answer or its `ModelError`
    (returned, not raised)."""
    if not IN_COMPONENT:
        return [ModelError("unavailable", "no host") for _ in requests]
    out = []
    for result in _models.complete_batch(list(requests)):
        if isinstance(result, _Err):
            out.append(_model_error(result.value))
        else:
            out.append(getattr(result, "value", result))
    return out


class Stream:
    """A streamed answer, from `stream(...)`. Either hand it to the host
    unread as a worker's reply (`return stream_reply(s, field="reply")`),
    or read it: iterating yields the text deltas (a failure raises
    `ModelError`), after which `.completion` holds the end of the answer
    (model, usage, tool calls, finish reason); `text()` reads it all and
    returns the whole text."""

    def __init__(self, resource):
        self._resource = resource
        self.completion = None

    def __iter__(self):
        while True:
            item = self._resource.next()
            if item is None:
                return
            if isinstance(item, _Err):
                raise _model_error(item.value)
            chunk = getattr(item, "value", item)
            if isinstance(chunk, _types.Chunk_Done):
                self.completion = chunk.value
                return
            yield chunk.value

    def text(self):
        """Reads the rest of the stream; returns its text."""
        return "".join(self)


def stream(model, prompt=None, **options):
    """Starts a streamed completion (same arguments as `complete`), granted,
    budgeted and retried like it; returns a `Stream`. Raises `ModelError`."""
    if not IN_COMPONENT:
        raise ModelError("unavailable", "no host: models are only reachable inside a component")
    try:
        return Stream(_models.stream(request(model, prompt, **options)))
    except _Err as e:
        raise _model_error(e.value) from None


def embed(model, texts):
    """Embeds `texts` (a list of str) with the embedding `model` (its
    manifest name); returns `.vectors` (one list of floats per text, in
    order), `.model` and `.usage`. Raises `ModelError`."""
    if not IN_COMPONENT:
        raise ModelError("unavailable", "no host: models are only reachable inside a component")
    try:
        return _models.embed(_types.EmbeddingRequest(model=model, inputs=[str(t) for t in texts]))
    except _Err as e:
        raise _model_error(e.value) from None


class StreamReply:
    """A worker's reply that hands the host a model stream unread (build it
    with `stream_reply`)."""

    def __init__(self, body, field=None, base=None):
        self.body = body
        self.field = field
        self.base = base


def stream_reply(body, field=None, base=None):
    """A worker's reply: the `Stream` `body`, unread; the host releases its
    text window by window, each after the window judges accepted it. The
    output is the text as a JSON string or, with `field`, the object `base`
    (a dict or JSON text; default {}) with the text under `field`."""
    if not isinstance(body, Stream):
        raise TypeError("stream_reply takes the Stream that stream(...) returned")
    return StreamReply(body, field, base)


def _reply(value):
    """What a worker function returned, as the contract's reply."""
    from wit_world.exports import worker as _worker

    if isinstance(value, StreamReply):
        base = "" if value.base is None else _json_text(value.base)
        body = _worker.Streamed(body=value.body._resource, field=value.field, base=base)
        return _worker.Reply_Stream(body)
    return _worker.Reply_Json(_json_text(value))


_MODEL_ERROR_KINDS = {
    "ModelError_Timeout": "timeout",
    "ModelError_RateLimited": "rate-limited",
    "ModelError_Unavailable": "unavailable",
    "ModelError_Denied": "denied",
    "ModelError_BudgetExceeded": "budget-exceeded",
    "ModelError_InvalidRequest": "invalid-request",
}


def _model_error_value(error):
    """The contract's model-error value for a ModelError raised by the node."""
    for cls_name, kind in _MODEL_ERROR_KINDS.items():
        if kind == error.kind:
            cls = getattr(_types, cls_name)
            return cls() if kind in ("timeout", "rate-limited") else cls(error.message)
    return _types.ModelError_Unavailable(str(error))


def _model_error(value):
    kind = _MODEL_ERROR_KINDS.get(type(value).__name__, "unavailable")
    return ModelError(kind, getattr(value, "value", "") or "", value)


# --- the node ----------------------------------------------------------------------


def _node_errors(call):
    """Runs `call`, turning exceptions into the contract's node errors."""
    try:
        return call()
    except InvalidInput as e:
        raise _Err(_types.NodeError_InvalidInput(str(e)))
    except ModelError as e:
        raise _Err(_types.NodeError_Model(e.value if e.value is not None else _model_error_value(e)))
    except _Err:
        raise
    except Exception as e:  # a bug here must not trap the run
        raise _Err(_types.NodeError_Internal("%s: %s" % (type(e).__name__, e)))


# The judge's window check, registered by @check_window (None: it has none).
_WINDOW_CHECK = []


def _check_needs(needs):
    """The `needs=` of a decorator, checked when the node is declared: a
    dict with `models`, `model_calls` and `settings`, all optional."""
    needs = dict(needs or {})
    unknown = set(needs) - {"models", "model_calls", "settings"}
    if unknown:
        raise TypeError("needs= takes models, model_calls and settings, not %s" % ", ".join(sorted(unknown)))
    calls = needs.get("model_calls")
    if calls is not None and (not isinstance(calls, int) or isinstance(calls, bool) or calls < 0):
        raise TypeError("needs model_calls must be a count (an int >= 0), not %r" % (calls,))
    for key in ("models", "settings"):
        if isinstance(needs.get(key), str):
            raise TypeError("needs %s must be a list of names, not one string" % key)
    return needs


def _needs(needs):
    """The `needs=` of a decorator as the contract's record."""
    needs = dict(needs or {})
    return _types.Needs(
        models=[str(m) for m in needs.get("models", ())],
        model_calls=needs.get("model_calls"),
        settings=[str(k) for k in needs.get("settings", ())],
    )


def _describe(role, name, version, summary, input_schema, output_schema, needs):
    schema = lambda s: None if s is None else _json_text(s)  # noqa: E731
    return _types.Description(
        role=getattr(_types.NodeRole, role.upper()),
        name=name,
        version=version,
        summary=summary,
        input_schema=schema(input_schema),
        output_schema=schema(output_schema),
        needs=_needs(needs),
        checks_windows=role == "judge" and bool(_WINDOW_CHECK),
    )


def _export(fn, role, export_class, name, version, summary, input_schema, output_schema, needs):
    """Adds the classes componentize-py looks for to `fn`'s module."""
    if not IN_COMPONENT:
        return
    import wit_world

    class WitWorld(wit_world.WitWorld):
        pass

    class Describe:
        def describe(self):
            return _describe(role, name, version, summary, input_schema, output_schema, needs)

    module = sys.modules[fn.__module__]
    module.WitWorld = WitWorld
    module.Describe = Describe
    setattr(module, export_class.__name__, export_class)


def _role(role, name, version, summary, input_schema, output_schema, needs, make_export):
    _check_needs(needs)

    def register(fn):
        _export(fn, role, make_export(fn), name, version, summary, input_schema, output_schema, needs)
        return fn

    return register


def judge(name, version="0.1.0", summary="", input_schema=None, output_schema=None, needs=None):
    """Registers `fn(task, candidate)` as the node's judge.

    `task` is a `Task`; `candidate` the output to judge, as JSON text
    (`parse_json(candidate)` parses it). Return None or `accept()` to let it
    through; a reason, a list of reasons or `reject(...)` to reject it (an
    empty list accepts); `repair(value)` to replace it. Give scores with
    `accept(score=..., criteria={...})` (and the same on reject/repair).
    `needs`: {"models": [...], "model_calls": n, "settings": [...]}, what
    the node declares it needs (default: nothing).
    """

    def make(fn):
        class Judge:
            def judge(self, task, candidate):
                call = lambda: _as_verdict(fn(Task._from_wit(task), candidate))  # noqa: E731
                return _judgement(_node_errors(call))

            def check_window(self, task, window):
                def call():
                    if not _WINDOW_CHECK:
                        raise Exception("this judge does not check windows (no @check_window)")
                    return _as_verdict(_WINDOW_CHECK[0](Task._from_wit(task), Window._from_wit(window)))

                return _judgement(_node_errors(call))

        return Judge

    return _role("judge", name, version, summary, input_schema, output_schema, needs, make)


def check_window(fn):
    """Registers `fn(task, window)` as the judge's check of one window of a
    streamed output (a `Window`: `.text`, `.before`, `.index`, `.last`);
    use it beside `@judge`, once. Its presence makes `describe` say
    `checks-windows`. It returns what a judge returns; `repair(text)`
    replaces the window's text (a str, as is), so the repaired text is what
    streams. Returns `fn` unchanged."""
    if _WINDOW_CHECK:
        raise TypeError("@check_window is used twice")
    _WINDOW_CHECK.append(fn)
    return fn


def router(name, version="0.1.0", summary="", input_schema=None, output_schema=None, needs=None):
    """Registers `fn(task, candidates)` as the node's router.

    `candidates` are the branch labels the manifest declares (never empty:
    the kit answers `invalid-input` itself otherwise). Return one of them:
    a (label, confidence, reason) tuple, or just the label (confidence 1.0).
    """

    def make(fn):
        class Router:
            def route(self, task, candidates):
                def call():
                    if not candidates:
                        raise InvalidInput("no candidates to choose from")
                    return _as_decision(fn(Task._from_wit(task), list(candidates)))

                target, confidence, reason = _node_errors(call)
                return _types.Decision(target=target, confidence=confidence, reason=reason)

        return Router

    return _role("router", name, version, summary, input_schema, output_schema, needs, make)


def _as_decision(value):
    if isinstance(value, str):
        return value, 1.0, ""
    if isinstance(value, (tuple, list)) and len(value) == 3 and isinstance(value[0], str):
        return value[0], float(value[1]), str(value[2])
    raise TypeError(
        "a router returns a label or a (label, confidence, reason) tuple, not %r" % (value,)
    )


def worker(name, version="0.1.0", summary="", input_schema=None, output_schema=None, needs=None):
    """Registers `fn(task)` as the node's worker.

    Return the output: any JSON-serialisable value (serialised for you), a
    str, taken as JSON text as is, or `stream_reply(stream(...), field)` to
    hand the host a model stream unread.
    """

    def make(fn):
        class Worker:
            def run(self, task):
                return _node_errors(lambda: _reply(fn(Task._from_wit(task))))

        return Worker

    return _role("worker", name, version, summary, input_schema, output_schema, needs, make)
