/* switchyard_node.h: the C authoring kit for switchyard nodes.
 *
 * A node is a WebAssembly component that plays one role in a pipeline: a
 * router picks a branch, a worker does one narrow job, a judge accepts,
 * rejects or repairs another node's output. With this kit a node is one
 * function plus one line naming it; the kit (switchyard_node.c) implements
 * the exports of the generated bindings (gen/<world>.h), converts their
 * strings, lists, results and variants, and owns the memory. A complete
 * judge (node.c):
 *
 *     #include "switchyard_node.h"
 *
 *     static sy_verdict check(const sy_task *task, sy_str candidate) {
 *         (void)task;
 *         if (candidate.len == 0) return sy_reject("the candidate is empty");
 *         return sy_accept();
 *     }
 *
 *     SY_JUDGE("non-empty", "0.1.0", "Rejects an empty candidate.", check);
 *
 * A judge may add scores (sy_scored, sy_add_criterion) and check windows of
 * a streamed output (`.check_window = fn` in SY_JUDGE, which makes describe
 * say `checks-windows`); a worker may hand the host an unread model stream
 * (sy_stream_start + sy_output_stream); models can be streamed, embedded
 * and offered tools; a node may declare its needs (`.needs_models`,
 * `.needs_model_calls`, `.needs_settings`). The kit targets the contract
 * `switchyard:node@0.2.0`.
 *
 * Build (what `switchyard new ... --lang c` writes into build.sh): compile
 * node.c, switchyard_node.c with -DSWITCHYARD_JUDGE_NODE (or _ROUTER_NODE,
 * _WORKER_NODE: the world, so the kit includes gen/judge_node.h) and
 * gen/judge_node.c for wasm32-wasi, then `wasm-tools component embed` and
 * `component new`.
 *
 * Conventions:
 * - Every string the kit hands out (sy_str, const char *) is UTF-8 and
 *   NUL-terminated, and stays valid until the node function returns; the
 *   kit frees it then. Never free it yourself.
 * - Every string you hand to the kit is copied: stack buffers are fine. It
 *   must be UTF-8 (the kit answers `internal` instead of returning bytes
 *   that are not, which the host would refuse).
 * - Results are values (sy_verdict, sy_decision, sy_output, all one
 *   sy_result type): return sy_accept(), sy_reject(..), sy_route(..),
 *   sy_output_json(..), sy_output_stream(..), or a failure:
 *   sy_invalid_input(..), sy_internal(..), sy_model_failure(). Nothing
 *   traps.
 * - No libc I/O (printf, FILE): it pulls in WASI imports the host does not
 *   grant. Use the kit's sy_buf to build text.
 */
#ifndef SWITCHYARD_NODE_H
#define SWITCHYARD_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- strings ------------------------------------------------------------ */

/* A string: `ptr` is NUL-terminated (never NULL, "" when empty, except for
 * an unset sy_setting), `len` its exact length in bytes (a string from the
 * host may contain a NUL byte before the end: use `len` to see all of it). */
typedef struct sy_str {
    const char *ptr;
    size_t len;
} sy_str;

/* A list of strings (the router's candidates, the task's feedback). */
typedef struct sy_strs {
    const sy_str *items;
    size_t len;
} sy_strs;

/* `s` as an sy_str (borrowed: no copy). */
sy_str sy_str_of(const char *s);

/* Whether `s` equals the C string `text`, byte for byte. */
bool sy_eq(sy_str s, const char *text);

/* Whether `text` contains `needle` (an empty needle is never contained). */
bool sy_contains(const char *text, const char *needle);

/* Whether `text` contains `needle`, ignoring ASCII case. */
bool sy_contains_nocase(const char *text, const char *needle);

/* Whether `list` holds a string equal to `text`. */
bool sy_has(sy_strs list, const char *text);

/* A copy of `text` (the first `len` bytes for sy_dup_n), freed by the kit
 * when the node function returns. */
const char *sy_dup(const char *text);
const char *sy_dup_n(const char *text, size_t len);

/* `size` bytes of memory, freed by the kit when the node function returns
 * (aborts when memory runs out, like the generated bindings). */
void *sy_alloc(size_t size);

/* A growing text buffer, for outputs and reasons without printf:
 *     sy_buf b = {0};
 *     sy_buf_add(&b, "{\"words\":"); sy_buf_add_uint(&b, n); sy_buf_add(&b, "}");
 *     return sy_output_json(sy_buf_str(&b));
 * The buffer belongs to the kit and is freed when the node function
 * returns. */
typedef struct sy_buf {
    char *ptr;
    size_t len, cap;
} sy_buf;

/* Appends the C string `text`. */
void sy_buf_add(sy_buf *b, const char *text);
/* Appends `len` bytes of `text`. */
void sy_buf_add_n(sy_buf *b, const char *text, size_t len);
/* Appends `value` in decimal. */
void sy_buf_add_uint(sy_buf *b, uint64_t value);
/* Appends `text` as a JSON string: quoted, with `"`, `\` and control
 * characters escaped. */
void sy_buf_add_json(sy_buf *b, const char *text);
/* The text so far, NUL-terminated ("" when nothing was added). */
const char *sy_buf_str(sy_buf *b);

/* --- JSON text ------------------------------------------------------------ */

/* The top-level string field `key` of the JSON object in `json`, decoded
 * (escapes resolved, \u escapes as UTF-8); NULL if `json` is not an object,
 * has no such field, or it is not a string. E.g. the `body` of a task
 * input: sy_json_string_field(task->input, "body"). */
const char *sy_json_string_field(sy_str json, const char *key);

/* The raw JSON text of the top-level field `key` of the object in `json`
 * (a number, object, ... as written); ptr NULL if there is none. */
sy_str sy_json_field(sy_str json, const char *key);

/* If `json` is one JSON string (surrounding whitespace allowed), that
 * string decoded; NULL otherwise. */
const char *sy_json_unquote(sy_str json);

/* `text` as a JSON string literal (quoted and escaped). */
const char *sy_json_quote(const char *text);

/* --- the task ----------------------------------------------------------------- */

/* One unit of work handed to the node. */
typedef struct sy_task {
    sy_str id;       /* the run's id */
    sy_str input;    /* the node's input, JSON text */
    sy_str meta;     /* run context, a JSON object as text */
    uint32_t attempt;/* 0 first, then counts retries after a judge's rejection */
    sy_strs feedback;/* the reasons of that rejection */
} sy_task;

/* --- settings --------------------------------------------------------------------- */

/* The setting `key` as JSON text (`ptr` NULL if the manifest does not set
 * it). */
sy_str sy_setting(const char *key);

/* The setting `key` if it is a JSON string (decoded), else `fallback` when
 * it is not set. A value that is set but not a JSON string fails the call
 * with `invalid-input` naming the setting, whatever the node function
 * returns (the function still gets `fallback` to carry on with). */
const char *sy_setting_string(const char *key, const char *fallback);

/* --- logging ---------------------------------------------------------------------- */

/* Log levels, as in the contract. */
enum { SY_TRACE, SY_DEBUG, SY_INFO, SY_WARN, SY_ERROR };

/* Writes one line into the host's tracing, prefixed with the node's name.
 * The host limits the volume per call (`limits.log-kb`): log sparingly,
 * and never personal data from the task. */
void sy_log(int level, const char *message);
#define sy_log_debug(message) sy_log(SY_DEBUG, (message))
#define sy_log_info(message) sy_log(SY_INFO, (message))
#define sy_log_warn(message) sy_log(SY_WARN, (message))

/* --- models ----------------------------------------------------------------------- */

/* A tool the model may ask to call (the host never runs it: the node does,
 * and sends the result back as a "tool" message). */
typedef struct sy_tool {
    const char *name;
    const char *description;
    const char *parameters;   /* JSON Schema of its arguments */
} sy_tool;

/* A call the model asks for; `arguments` is JSON text as the model wrote it
 * (check it). */
typedef struct sy_tool_call {
    sy_str id, name, arguments;
} sy_tool_call;

/* An earlier turn of the conversation, sent after `system` and before
 * `user`. */
typedef struct sy_message {
    const char *role;                /* "user", "assistant", "system" or "tool" */
    const char *content;
    const char *tool_call_id;        /* "tool": the call it answers (sy_tool_call.id) */
    const sy_tool_call *tool_calls;  /* "assistant": the calls that answer made */
    size_t n_tool_calls;
} sy_message;

/* A completion request: set the fields you need, e.g.
 *     sy_request req = {.model = "small", .user = task->input.ptr, .max_tokens = 200};
 */
typedef struct sy_request {
    const char *model;        /* the model's manifest name (granted to the node) */
    const char *system;       /* instructions, or NULL */
    const char *user;         /* the user message (NULL: "" unless `messages` are given) */
    uint32_t max_tokens;      /* 0: the host's default */
    bool has_temperature;     /* false: the provider's default */
    float temperature;
    const char *json_schema;  /* NULL: free text; else answer in this JSON Schema */
    const char *extra_json;   /* NULL, or a JSON object of extra sampling parameters */
    const sy_message *messages; /* earlier turns, or NULL */
    size_t n_messages;
    const sy_tool *tools;     /* tools the model may call, or NULL */
    size_t n_tools;
    const char *tool_choice;  /* NULL or "auto", "none", "required", or a tool's name */
} sy_request;

/* Why a model stopped (sy_completion.finish_reason). */
enum { SY_FINISH_STOP, SY_FINISH_LENGTH, SY_FINISH_TOOL_CALLS, SY_FINISH_CONTENT_FILTER, SY_FINISH_OTHER };

/* A model's answer. */
typedef struct sy_completion {
    sy_str content;           /* the generated text */
    sy_str model;             /* the model that answered (after any fallback) */
    uint32_t input_tokens, output_tokens;
    const sy_tool_call *tool_calls; /* the calls the model asks for */
    size_t n_tool_calls;
    int finish_reason;        /* SY_FINISH_... */
} sy_completion;

/* Sends `req` through the host (grant, budget, retries, fallback) and waits.
 * Returns true with the answer in `*out`; false when the call failed: then
 * `return sy_model_failure();` fails the node with that model error, and
 * sy_model_error_message() says what went wrong. */
bool sy_complete(const sy_request *req, sy_completion *out);

/* The last failed call's error, e.g. "denied: ..." (or "" if none failed). */
const char *sy_model_error_message(void);

/* A streamed answer (a handle owned by the node until it is returned with
 * sy_output_stream or closed). */
typedef struct sy_stream {
    int32_t handle;
} sy_stream;

/* Starts `req` as a stream (granted, budgeted and retried like
 * sy_complete). False when it failed: see sy_complete. */
bool sy_stream_start(const sy_request *req, sy_stream *out);

/* Reads the next piece of the stream: returns 1 with a text delta in
 * `*delta`, 0 at the end (then `*done`, if not NULL, holds the answer's
 * model, tokens, tool calls and finish reason; content empty), or -1 when
 * the stream failed (sy_model_failure() then fails the node with it). */
int sy_stream_next(sy_stream s, sy_str *delta, sy_completion *done);

/* Closes a stream the node read or no longer wants (cancels the call). */
void sy_stream_close(sy_stream s);

/* A vector of one embedding. */
typedef struct sy_vector {
    const float *values;
    size_t len;
} sy_vector;

/* Embeddings of the texts of one request, in order. */
typedef struct sy_embeddings {
    const sy_vector *vectors;
    size_t len;
    sy_str model;
    uint32_t input_tokens;
} sy_embeddings;

/* Embeds `n` texts with the embedding `model` (its manifest name). False
 * when the call failed: see sy_complete. */
bool sy_embed(const char *model, const char *const *texts, size_t n, sy_embeddings *out);

/* For calls the kit does not wrap (complete-batch), the generated functions
 * (switchyard_node_models_complete_batch in gen/<world>.h) stay available in
 * your own files once you include that header. */

/* --- results ---------------------------------------------------------------------- */

/* What a node function returns. Build it with the functions below; read
 * `kind` if you need to. */
typedef struct sy_result {
    int kind;                 /* SY_ACCEPT, SY_REJECT, ... below */
    const char *text;         /* REPAIR: JSON; ROUTE: target; OUTPUT: JSON; STREAM: field (or NULL); FAIL: message */
    const char *reason;       /* ROUTE; STREAM: base (JSON object or NULL) */
    float confidence;         /* ROUTE */
    const char **reasons;     /* REJECT */
    size_t n_reasons;
    int fail;                 /* FAIL: SY_INVALID_INPUT, SY_MODEL or SY_INTERNAL */
    int model_error;          /* FAIL + SY_MODEL: the contract's model-error case */
    bool has_score;           /* verdicts: an overall score is given */
    double score;
    const char **criteria;    /* verdicts: criterion names ... */
    const double *criteria_scores; /* ... and their scores */
    size_t n_criteria;
    sy_stream stream;         /* STREAM */
} sy_result;
enum { SY_ACCEPT, SY_REJECT, SY_REPAIR, SY_ROUTE, SY_OUTPUT, SY_FAIL, SY_STREAM };
enum { SY_INVALID_INPUT, SY_MODEL, SY_INTERNAL };

/* The names the role functions use: all the same type, so a failure can be
 * returned from any role. */
typedef sy_result sy_verdict;
typedef sy_result sy_decision;
typedef sy_result sy_output;

/* Judge: the candidate may continue unchanged. */
sy_verdict sy_accept(void);
/* Judge: the candidate must not continue; the reason goes back to the
 * producing node on a retry. */
sy_verdict sy_reject(const char *reason);
/* Judge: adds a reason to `*v`, making it a rejection (start from
 * sy_accept() to collect several reasons; none added means accept). */
void sy_add_reason(sy_verdict *v, const char *reason);
/* Judge: the candidate may continue in this corrected form (JSON text; for
 * a window, the window's new text). */
sy_verdict sy_repair(const char *json);
/* Judge: `v` with an overall score (usually 0 to 1; a manifest `min-score`
 * can turn it into the verdict), e.g. return sy_scored(sy_accept(), 0.9). */
sy_verdict sy_scored(sy_verdict v, double score);
/* Judge: adds a named criterion's score to `*v`, e.g. ("tone", 0.8). */
void sy_add_criterion(sy_verdict *v, const char *name, double score);
/* Router: picks `target` (one of the candidates), with a confidence from 0
 * to 1 and a short reason. */
sy_decision sy_route(const char *target, float confidence, const char *reason);
/* Worker: the output, as JSON text. */
sy_output sy_output_json(const char *json);
/* Worker: the output is stream `s`, handed to the host unread (the host
 * releases it window by window, after the window judges): its text as a
 * JSON string, or with `field`, the object `base_json` (NULL: {}) with the
 * text under `field`. */
sy_output sy_output_stream(sy_stream s, const char *field, const char *base_json);
/* Any role: the task's input (or a setting) is not what the node accepts. */
sy_result sy_invalid_input(const char *message);
/* Any role: something else went wrong inside the node. */
sy_result sy_internal(const char *message);
/* Any role: the last sy_complete failed, and the node cannot carry on. */
sy_result sy_model_failure(void);

/* --- the node --------------------------------------------------------------------- */

/* One window of a streamed output, for a judge's window check. */
typedef struct sy_window {
    sy_str text;     /* what the host releases if every window judge accepts it (plain text) */
    sy_str before;   /* the output before it, already checked and repaired */
    uint32_t index;  /* 0 first */
    bool last;       /* the last window of the output */
} sy_window;

typedef sy_verdict (*sy_judge_fn)(const sy_task *task, sy_str candidate);
typedef sy_verdict (*sy_window_fn)(const sy_task *task, const sy_window *window);
typedef sy_decision (*sy_router_fn)(const sy_task *task, sy_strs candidates);
typedef sy_output (*sy_worker_fn)(const sy_task *task);

enum { SY_ROLE_ROUTER, SY_ROLE_WORKER, SY_ROLE_JUDGE };

/* The node: its `describe` answer and its function. Define it once, with
 * SY_JUDGE, SY_ROUTER or SY_WORKER. */
typedef struct sy_node {
    int role;
    const char *name, *version, *summary;
    const char *input_schema;  /* JSON Schema of the input it accepts, or NULL */
    const char *output_schema; /* JSON Schema of the output it produces, or NULL */
    sy_judge_fn judge;
    sy_router_fn route;
    sy_worker_fn run;
    sy_window_fn check_window; /* judge: checks windows of a streamed output (sets checks-windows) */
    const char *const *needs_models;   /* NULL-terminated: models (or kinds such as "chat") it calls */
    uint32_t needs_model_calls;        /* the most model calls per invocation; 0: not declared */
    const char *const *needs_settings; /* NULL-terminated: the settings keys it reads */
} sy_node;
extern const sy_node sy_this_node;

/* Declares the node: a judge `fn(const sy_task *, sy_str candidate)` (the
 * candidate is JSON text), a router `fn(const sy_task *, sy_strs
 * candidates)` (never called with no candidates: the kit answers
 * `invalid-input` itself), or a worker `fn(const sy_task *)`. Optional
 * trailing fields: `.input_schema = "{...}"`, `.output_schema = "{...}"`,
 * `.check_window = fn` (judges: `sy_verdict fn(const sy_task *, const
 * sy_window *)`; a sy_repair(text) replaces the window's text),
 * `.needs_models = (const char *[]){"chat", NULL}`, `.needs_model_calls =
 * 1`, `.needs_settings = (const char *[]){"banned", NULL}`. */
#define SY_JUDGE(name_, version_, summary_, fn_, ...)                                        \
    const sy_node sy_this_node = {.role = SY_ROLE_JUDGE, .name = (name_), .version = (version_), \
                                  .summary = (summary_), .judge = (fn_), __VA_ARGS__}
#define SY_ROUTER(name_, version_, summary_, fn_, ...)                                        \
    const sy_node sy_this_node = {.role = SY_ROLE_ROUTER, .name = (name_), .version = (version_), \
                                  .summary = (summary_), .route = (fn_), __VA_ARGS__}
#define SY_WORKER(name_, version_, summary_, fn_, ...)                                        \
    const sy_node sy_this_node = {.role = SY_ROLE_WORKER, .name = (name_), .version = (version_), \
                                  .summary = (summary_), .run = (fn_), __VA_ARGS__}

#ifdef __cplusplus
}
#endif

#endif
