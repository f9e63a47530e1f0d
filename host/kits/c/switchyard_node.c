/* switchyard_node.c: the C authoring kit's implementation (see
 * switchyard_node.h for the API and its rules).
 *
 * Compile it with the node's world defined, so it includes that world's
 * generated bindings (gen/<world>.h, from `wit-bindgen c`):
 *     -DSWITCHYARD_JUDGE_NODE, -DSWITCHYARD_ROUTER_NODE or -DSWITCHYARD_WORKER_NODE
 *
 * It implements the world's exports (`describe` and the role's function)
 * on top of `sy_this_node`, which the node declares with SY_JUDGE,
 * SY_ROUTER or SY_WORKER. Memory rules of the bindings it follows: an
 * export owns and frees its arguments; what it returns must come from
 * malloc, since the generated post-return functions free it; arguments of
 * imports stay the caller's. Everything the kit hands to the node lives in
 * an arena freed when the export returns. */
#if defined(SWITCHYARD_JUDGE_NODE)
#include "gen/judge_node.h"
#define SY_W(name) judge_node_##name
#define SY_FORCE_LINK __component_type_object_force_link_judge_node
#elif defined(SWITCHYARD_ROUTER_NODE)
#include "gen/router_node.h"
#define SY_W(name) router_node_##name
#define SY_FORCE_LINK __component_type_object_force_link_router_node
#elif defined(SWITCHYARD_WORKER_NODE)
#include "gen/worker_node.h"
#define SY_W(name) worker_node_##name
#define SY_FORCE_LINK __component_type_object_force_link_worker_node
#else
#error "compile switchyard_node.c with -DSWITCHYARD_JUDGE_NODE, -DSWITCHYARD_ROUTER_NODE or -DSWITCHYARD_WORKER_NODE (the node's world)"
#endif

#include <stdlib.h>
#include <string.h>

#include "switchyard_node.h"

typedef SY_W(string_t) wit_str;

/* The generated gen/<world>.c references this symbol to force the linking
 * of the `*_component_type.o` object that `wit-bindgen c` writes by default.
 * The bindings are generated without it (--no-object-file: no binary in the
 * project) and `wasm-tools component embed` adds the component type instead,
 * so the symbol is defined here, empty. */
void SY_FORCE_LINK(void) {}

/* --- the arena: everything handed to the node, freed after each export ---- */

typedef union sy_block {
    union sy_block *next;
    max_align_t align;
} sy_block;

static sy_block *arena;

void *sy_alloc(size_t size) {
    sy_block *b = malloc(sizeof(sy_block) + (size ? size : 1));
    if (!b) abort();
    b->next = arena;
    arena = b;
    return b + 1;
}

/* Per-call state: a failure noticed by a helper (a malformed setting), and
 * the last failed model call. */
static bool pending;
static sy_result pending_result;
static bool model_failed;
static int model_error_case;
static const char *model_error_text = "";

static void reset(void) {
    while (arena) {
        sy_block *next = arena->next;
        free(arena);
        arena = next;
    }
    pending = false;
    model_failed = false;
    model_error_text = "";
}

/* --- strings ------------------------------------------------------------------ */

const char *sy_dup_n(const char *text, size_t len) {
    char *out = sy_alloc(len + 1);
    if (len) memcpy(out, text, len);
    out[len] = 0;
    return out;
}

const char *sy_dup(const char *text) { return sy_dup_n(text, strlen(text)); }

sy_str sy_str_of(const char *s) { return (sy_str){s, strlen(s)}; }

bool sy_eq(sy_str s, const char *text) {
    size_t n = strlen(text);
    return s.len == n && memcmp(s.ptr, text, n) == 0;
}

bool sy_contains(const char *text, const char *needle) { return *needle && strstr(text, needle) != NULL; }

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

bool sy_contains_nocase(const char *text, const char *needle) {
    if (!*needle) return false;
    for (; *text; text++) {
        size_t i = 0;
        while (needle[i] && lower(text[i]) == lower(needle[i])) i++;
        if (!needle[i]) return true;
    }
    return false;
}

bool sy_has(sy_strs list, const char *text) {
    for (size_t i = 0; i < list.len; i++)
        if (sy_eq(list.items[i], text)) return true;
    return false;
}

/* A string from the bindings, copied into the arena (NUL-terminated) and
 * freed. */
static sy_str take(wit_str *s) {
    sy_str out = {sy_dup_n((const char *)s->ptr, s->len), s->len};
    SY_W(string_free)(s);
    return out;
}

/* A copy of a list from the bindings, in the arena (the list stays the
 * caller's to free). */
static sy_strs copy_list(const wit_str *items, size_t len) {
    sy_str *out = sy_alloc(len * sizeof *out);
    for (size_t i = 0; i < len; i++) out[i] = (sy_str){sy_dup_n((const char *)items[i].ptr, items[i].len), items[i].len};
    return (sy_strs){out, len};
}

static sy_task take_task(switchyard_node_types_task_t *task) {
    sy_task t;
    t.id = take(&task->id);
    t.input = take(&task->input);
    t.meta = take(&task->meta);
    t.attempt = task->attempt;
    t.feedback = copy_list(task->feedback.ptr, task->feedback.len);
    switchyard_node_types_task_free(task);
    return t;
}

/* Whether `s` (len bytes) is valid UTF-8 (what the host accepts). */
static bool valid_utf8(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || (size_t)(end - p) < n) return false;
        uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        p += n;
    }
    return true;
}

static bool utf8(const char *s) { return s && valid_utf8(s, strlen(s)); }

/* --- the text buffer ------------------------------------------------------------ */

static void buf_reserve(sy_buf *b, size_t more) {
    if (b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + more + 1) cap *= 2;
    char *p = sy_alloc(cap); /* the old block stays in the arena until the call ends */
    if (b->len) memcpy(p, b->ptr, b->len);
    b->ptr = p;
    b->cap = cap;
}

void sy_buf_add_n(sy_buf *b, const char *text, size_t len) {
    buf_reserve(b, len);
    memcpy(b->ptr + b->len, text, len);
    b->len += len;
    b->ptr[b->len] = 0;
}

void sy_buf_add(sy_buf *b, const char *text) { sy_buf_add_n(b, text, strlen(text)); }

void sy_buf_add_uint(sy_buf *b, uint64_t value) {
    char digits[24];
    size_t n = 0;
    do digits[sizeof digits - ++n] = (char)('0' + value % 10);
    while ((value /= 10) != 0);
    sy_buf_add_n(b, digits + sizeof digits - n, n);
}

void sy_buf_add_json(sy_buf *b, const char *text) {
    static const char hex[] = "0123456789abcdef";
    sy_buf_add_n(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            sy_buf_add_n(b, esc, 2);
        } else if (*p == '\n') {
            sy_buf_add_n(b, "\\n", 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            sy_buf_add_n(b, esc, 6);
        } else {
            sy_buf_add_n(b, (const char *)p, 1);
        }
    }
    sy_buf_add_n(b, "\"", 1);
}

const char *sy_buf_str(sy_buf *b) { return b->ptr ? b->ptr : ""; }

/* --- JSON text ---------------------------------------------------------------------- */

typedef struct {
    const char *p, *end;
} scan;

static void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

/* At a `"`: moves past the closing quote. */
static bool skip_string(scan *s) {
    if (s->p >= s->end || *s->p != '"') return false;
    for (s->p++; s->p < s->end; s->p++) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c == '\\') s->p++;
        else if (c < 0x20) return false;
    }
    return false;
}

#define SY_JSON_MAX_DEPTH 128

/* Moves past one JSON value (nesting bounded; numbers and literals are only
 * checked for their characters). */
static bool skip_value(scan *s, int depth) {
    if (s->p >= s->end || depth > SY_JSON_MAX_DEPTH) return false;
    char open = *s->p;
    if (open == '"') return skip_string(s);
    if (open == '{' || open == '[') {
        char close = open == '{' ? '}' : ']';
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return true;
        }
        for (;;) {
            if (open == '{') {
                if (!skip_string(s)) return false;
                skip_ws(s);
                if (s->p >= s->end || *s->p != ':') return false;
                s->p++;
                skip_ws(s);
            }
            if (!skip_value(s, depth + 1)) return false;
            skip_ws(s);
            if (s->p >= s->end) return false;
            if (*s->p == close) {
                s->p++;
                return true;
            }
            if (*s->p != ',') return false;
            s->p++;
            skip_ws(s);
        }
    }
    const char *start = s->p;
    while (s->p < s->end && *s->p && strchr("+-.0123456789Eaeflnrstu", *s->p)) s->p++;
    return s->p > start;
}

static unsigned hex4(const char *p) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (unsigned)(c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0);
    }
    return v;
}

static char *put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) *o++ = (char)cp;
    else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Decodes the JSON string literal [start, end) (quotes included, already
 * checked by skip_string) into the arena. Lone surrogates become U+FFFD. */
static const char *decode(const char *start, const char *end) {
    char *out = sy_alloc((size_t)(end - start)), *o = out;
    for (const char *p = start + 1; p < end - 1; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        char e = *++p;
        switch (e) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            if (end - 1 - p < 5) return NULL;
            uint32_t cp = hex4(p + 1);
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && end - 1 - p >= 7 && p[1] == '\\' && p[2] == 'u') {
                uint32_t lo = hex4(p + 3);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
            o = put_utf8(o, cp);
            break;
        }
        default: *o++ = e; break; /* \" \\ \/ */
        }
    }
    *o = 0;
    return out;
}

/* Finds the top-level field `key` of the object in `json`: [*vs, *ve). */
static bool find_field(sy_str json, const char *key, const char **vs, const char **ve) {
    scan s = {json.ptr, json.ptr + json.len};
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') return false;
    s.p++;
    skip_ws(&s);
    while (s.p < s.end && *s.p == '"') {
        const char *ks = s.p;
        if (!skip_string(&s)) return false;
        const char *ke = s.p, *name = decode(ks, ke);
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') return false;
        s.p++;
        skip_ws(&s);
        *vs = s.p;
        if (!skip_value(&s, 1)) return false;
        *ve = s.p;
        if (name && strcmp(name, key) == 0) return true;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ',') return false;
        s.p++;
        skip_ws(&s);
    }
    return false;
}

sy_str sy_json_field(sy_str json, const char *key) {
    const char *vs, *ve;
    if (!find_field(json, key, &vs, &ve)) return (sy_str){NULL, 0};
    return (sy_str){sy_dup_n(vs, (size_t)(ve - vs)), (size_t)(ve - vs)};
}

const char *sy_json_string_field(sy_str json, const char *key) {
    const char *vs, *ve;
    if (!find_field(json, key, &vs, &ve) || *vs != '"') return NULL;
    return decode(vs, ve);
}

const char *sy_json_unquote(sy_str json) {
    scan s = {json.ptr, json.ptr + json.len};
    skip_ws(&s);
    const char *start = s.p;
    if (!skip_string(&s)) return NULL;
    const char *end = s.p;
    skip_ws(&s);
    return s.p == s.end ? decode(start, end) : NULL;
}

const char *sy_json_quote(const char *text) {
    sy_buf b = {0};
    sy_buf_add_json(&b, text);
    return sy_buf_str(&b);
}

/* --- settings, logging, models ------------------------------------------------------- */

sy_str sy_setting(const char *key) {
    wit_str k, v;
    SY_W(string_set)(&k, key); /* borrowed for the call */
    if (!switchyard_node_config_get(&k, &v)) return (sy_str){NULL, 0};
    return take(&v);
}

const char *sy_setting_string(const char *key, const char *fallback) {
    sy_str raw = sy_setting(key);
    if (!raw.ptr) return fallback;
    const char *value = sy_json_unquote(raw);
    if (value) return value;
    if (!pending) {
        sy_buf b = {0};
        sy_buf_add(&b, "setting `");
        sy_buf_add(&b, key);
        sy_buf_add(&b, "` must be a JSON string");
        pending_result = sy_invalid_input(sy_buf_str(&b));
        pending = true;
    }
    return fallback;
}

void sy_log(int level, const char *message) {
    wit_str m;
    SY_W(string_set)(&m, utf8(message) ? message : "(a log line that is not UTF-8)");
    switchyard_node_log_emit((switchyard_node_log_level_t)level, &m);
}

/* Notes a failed model call for sy_model_failure() and frees `error`. */
static void record_model_error(switchyard_node_types_model_error_t *error) {
    model_failed = true;
    model_error_case = error->tag;
    model_error_text = "";
    if (error->tag >= SWITCHYARD_NODE_TYPES_MODEL_ERROR_UNAVAILABLE) {
        /* Every case with text holds one string at the same place. */
        model_error_text = take(&error->val.unavailable).ptr;
    }
}

static switchyard_node_types_role_t role_of(const char *role) {
    if (role && strcmp(role, "system") == 0) return SWITCHYARD_NODE_TYPES_ROLE_SYSTEM;
    if (role && strcmp(role, "assistant") == 0) return SWITCHYARD_NODE_TYPES_ROLE_ASSISTANT;
    if (role && strcmp(role, "tool") == 0) return SWITCHYARD_NODE_TYPES_ROLE_TOOL;
    return SWITCHYARD_NODE_TYPES_ROLE_USER;
}

/* A message for the bindings; its strings are borrowed from the node. */
static switchyard_node_types_message_t message(const char *role, const char *content) {
    switchyard_node_types_message_t m;
    memset(&m, 0, sizeof m);
    m.role = role_of(role);
    SY_W(string_set)(&m.content, content ? content : "");
    return m;
}

/* `req` as the contract's request, borrowing the node's strings; the lists
 * live in the arena. */
static switchyard_node_models_completion_request_t to_request(const sy_request *req) {
    size_t max = req->n_messages + 2, n = 0;
    switchyard_node_types_message_t *messages = sy_alloc(max * sizeof *messages);
    if (req->system) messages[n++] = message("system", req->system);
    for (size_t i = 0; i < req->n_messages; i++) {
        const sy_message *m = &req->messages[i];
        messages[n] = message(m->role, m->content);
        if (m->tool_call_id) {
            messages[n].tool_call_id.is_some = true;
            SY_W(string_set)(&messages[n].tool_call_id.val, m->tool_call_id);
        }
        if (m->n_tool_calls) {
            switchyard_node_types_tool_call_t *calls = sy_alloc(m->n_tool_calls * sizeof *calls);
            for (size_t j = 0; j < m->n_tool_calls; j++) {
                SY_W(string_set)(&calls[j].id, m->tool_calls[j].id.ptr);
                SY_W(string_set)(&calls[j].name, m->tool_calls[j].name.ptr);
                SY_W(string_set)(&calls[j].arguments, m->tool_calls[j].arguments.ptr);
            }
            messages[n].tool_calls.ptr = calls;
            messages[n].tool_calls.len = m->n_tool_calls;
        }
        n++;
    }
    if (req->user || req->n_messages == 0) messages[n++] = message("user", req->user);
    switchyard_node_models_completion_request_t r;
    memset(&r, 0, sizeof r);
    SY_W(string_set)(&r.model, req->model ? req->model : "");
    r.messages.ptr = messages;
    r.messages.len = n;
    r.max_tokens.is_some = req->max_tokens != 0;
    r.max_tokens.val = req->max_tokens;
    r.temperature.is_some = req->has_temperature;
    r.temperature.val = req->temperature;
    if (req->json_schema) {
        r.response_format.tag = SWITCHYARD_NODE_TYPES_RESPONSE_FORMAT_JSON_SCHEMA;
        SY_W(string_set)(&r.response_format.val.json_schema, req->json_schema);
    } else {
        r.response_format.tag = SWITCHYARD_NODE_TYPES_RESPONSE_FORMAT_TEXT;
    }
    if (req->n_tools) {
        switchyard_node_types_tool_definition_t *tools = sy_alloc(req->n_tools * sizeof *tools);
        for (size_t i = 0; i < req->n_tools; i++) {
            SY_W(string_set)(&tools[i].name, req->tools[i].name ? req->tools[i].name : "");
            SY_W(string_set)(&tools[i].description, req->tools[i].description ? req->tools[i].description : "");
            SY_W(string_set)(&tools[i].parameters, req->tools[i].parameters ? req->tools[i].parameters : "{}");
        }
        r.tools.ptr = tools;
        r.tools.len = req->n_tools;
    }
    const char *choice = req->tool_choice;
    if (!choice || strcmp(choice, "auto") == 0) r.tool_choice.tag = SWITCHYARD_NODE_TYPES_TOOL_CHOICE_AUTO;
    else if (strcmp(choice, "none") == 0) r.tool_choice.tag = SWITCHYARD_NODE_TYPES_TOOL_CHOICE_NONE;
    else if (strcmp(choice, "required") == 0) r.tool_choice.tag = SWITCHYARD_NODE_TYPES_TOOL_CHOICE_REQUIRED;
    else {
        r.tool_choice.tag = SWITCHYARD_NODE_TYPES_TOOL_CHOICE_NAMED;
        SY_W(string_set)(&r.tool_choice.val.named, choice);
    }
    SY_W(string_set)(&r.extra_json, req->extra_json ? req->extra_json : "");
    return r;
}

/* The answer from the bindings, copied into the arena, then freed. */
static void take_completion(switchyard_node_types_completion_t *answer, sy_completion *out) {
    out->content = take(&answer->content);
    out->model = take(&answer->model);
    out->input_tokens = answer->usage.input_tokens;
    out->output_tokens = answer->usage.output_tokens;
    size_t n = answer->tool_calls.len;
    sy_tool_call *calls = sy_alloc(n * sizeof *calls);
    for (size_t i = 0; i < n; i++) {
        calls[i].id = take(&answer->tool_calls.ptr[i].id);
        calls[i].name = take(&answer->tool_calls.ptr[i].name);
        calls[i].arguments = take(&answer->tool_calls.ptr[i].arguments);
    }
    if (answer->tool_calls.len) free(answer->tool_calls.ptr);
    out->tool_calls = calls;
    out->n_tool_calls = n;
    out->finish_reason = answer->finish_reason;
}

static void no_completion(sy_completion *out) {
    memset(out, 0, sizeof *out);
    out->content = out->model = (sy_str){"", 0};
    out->finish_reason = SY_FINISH_OTHER;
}

bool sy_complete(const sy_request *req, sy_completion *out) {
    switchyard_node_models_completion_request_t r = to_request(req);
    switchyard_node_models_completion_t answer;
    switchyard_node_models_model_error_t error;
    if (switchyard_node_models_complete(&r, &answer, &error)) {
        take_completion(&answer, out);
        return true;
    }
    record_model_error(&error);
    no_completion(out);
    return false;
}

bool sy_stream_start(const sy_request *req, sy_stream *out) {
    switchyard_node_models_completion_request_t r = to_request(req);
    switchyard_node_models_own_completion_stream_t stream;
    switchyard_node_models_model_error_t error;
    if (switchyard_node_models_stream(&r, &stream, &error)) {
        out->handle = stream.__handle;
        return true;
    }
    record_model_error(&error);
    out->handle = -1;
    return false;
}

int sy_stream_next(sy_stream s, sy_str *delta, sy_completion *done) {
    *delta = (sy_str){"", 0};
    if (done) no_completion(done);
    switchyard_node_models_result_chunk_model_error_t item;
    if (!switchyard_node_models_method_completion_stream_next(
            (switchyard_node_models_borrow_completion_stream_t){s.handle}, &item)) {
        return 0; /* none: after `done` or an error */
    }
    if (item.is_err) {
        record_model_error(&item.val.err);
        return -1;
    }
    if (item.val.ok.tag == SWITCHYARD_NODE_TYPES_CHUNK_DELTA) {
        *delta = take(&item.val.ok.val.delta);
        return 1;
    }
    sy_completion answer;
    take_completion(&item.val.ok.val.done, &answer);
    if (done) *done = answer;
    return 0;
}

void sy_stream_close(sy_stream s) {
    if (s.handle >= 0) switchyard_node_models_completion_stream_drop_own((switchyard_node_models_own_completion_stream_t){s.handle});
}

bool sy_embed(const char *model, const char *const *texts, size_t n, sy_embeddings *out) {
    switchyard_node_models_embedding_request_t r;
    SY_W(string_set)(&r.model, model ? model : "");
    SY_W(string_t) *inputs = sy_alloc(n * sizeof *inputs);
    for (size_t i = 0; i < n; i++) SY_W(string_set)(&inputs[i], texts[i] ? texts[i] : "");
    r.inputs.ptr = inputs;
    r.inputs.len = n;
    switchyard_node_models_embeddings_t answer;
    switchyard_node_models_model_error_t error;
    memset(out, 0, sizeof *out);
    out->model = (sy_str){"", 0};
    if (!switchyard_node_models_embed(&r, &answer, &error)) {
        record_model_error(&error);
        return false;
    }
    sy_vector *vectors = sy_alloc(answer.vectors.len * sizeof *vectors);
    for (size_t i = 0; i < answer.vectors.len; i++) {
        size_t len = answer.vectors.ptr[i].len;
        float *values = sy_alloc(len * sizeof *values);
        if (len) memcpy(values, answer.vectors.ptr[i].ptr, len * sizeof *values);
        vectors[i] = (sy_vector){values, len};
    }
    out->vectors = vectors;
    out->len = answer.vectors.len;
    out->model = take(&answer.model);
    out->input_tokens = answer.usage.input_tokens;
    SY_W(list_list_f32_free)(&answer.vectors);
    return true;
}

/* --- results ------------------------------------------------------------------------- */

static sy_result result(int kind) {
    sy_result r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    return r;
}

sy_verdict sy_accept(void) { return result(SY_ACCEPT); }

void sy_add_reason(sy_verdict *v, const char *reason) {
    if (v->kind == SY_FAIL) return;
    if (v->kind != SY_REJECT) {
        sy_verdict scores = *v;
        *v = result(SY_REJECT);
        v->has_score = scores.has_score;
        v->score = scores.score;
        v->criteria = scores.criteria;
        v->criteria_scores = scores.criteria_scores;
        v->n_criteria = scores.n_criteria;
    }
    const char **reasons = sy_alloc((v->n_reasons + 1) * sizeof *reasons);
    if (v->n_reasons) memcpy(reasons, v->reasons, v->n_reasons * sizeof *reasons);
    reasons[v->n_reasons++] = sy_dup(reason ? reason : "");
    v->reasons = reasons;
}

sy_verdict sy_reject(const char *reason) {
    sy_verdict v = sy_accept();
    sy_add_reason(&v, reason);
    return v;
}

sy_verdict sy_repair(const char *json) {
    sy_result r = result(SY_REPAIR);
    r.text = sy_dup(json ? json : "null");
    return r;
}

sy_verdict sy_scored(sy_verdict v, double score) {
    if (v.kind == SY_FAIL) return v;
    v.has_score = true;
    v.score = score;
    return v;
}

void sy_add_criterion(sy_verdict *v, const char *name, double score) {
    if (v->kind == SY_FAIL) return;
    const char **names = sy_alloc((v->n_criteria + 1) * sizeof *names);
    double *scores = sy_alloc((v->n_criteria + 1) * sizeof *scores);
    if (v->n_criteria) {
        memcpy(names, v->criteria, v->n_criteria * sizeof *names);
        memcpy(scores, v->criteria_scores, v->n_criteria * sizeof *scores);
    }
    names[v->n_criteria] = sy_dup(name ? name : "");
    scores[v->n_criteria] = score;
    v->criteria = names;
    v->criteria_scores = scores;
    v->n_criteria++;
}

sy_decision sy_route(const char *target, float confidence, const char *reason) {
    sy_result r = result(SY_ROUTE);
    r.text = sy_dup(target ? target : "");
    r.confidence = confidence;
    r.reason = sy_dup(reason ? reason : "");
    return r;
}

sy_output sy_output_json(const char *json) {
    sy_result r = result(SY_OUTPUT);
    r.text = sy_dup(json ? json : "null");
    return r;
}

sy_output sy_output_stream(sy_stream s, const char *field, const char *base_json) {
    if (s.handle < 0) return sy_internal("sy_output_stream() without a started stream");
    sy_result r = result(SY_STREAM);
    r.stream = s;
    r.text = field ? sy_dup(field) : NULL;
    r.reason = base_json ? sy_dup(base_json) : NULL;
    return r;
}

static sy_result fail(int kind, const char *message) {
    sy_result r = result(SY_FAIL);
    r.fail = kind;
    r.text = sy_dup(message ? message : "");
    return r;
}

sy_result sy_invalid_input(const char *message) { return fail(SY_INVALID_INPUT, message); }

sy_result sy_internal(const char *message) { return fail(SY_INTERNAL, message); }

sy_result sy_model_failure(void) {
    if (!model_failed) return sy_internal("sy_model_failure() without a failed sy_complete()");
    sy_result r = fail(SY_MODEL, model_error_text);
    r.model_error = model_error_case;
    return r;
}

const char *sy_model_error_message(void) {
    static const char *const cases[] = {"timeout", "rate-limited", "unavailable", "denied", "budget-exceeded",
                                        "invalid-request"};
    if (!model_failed) return "";
    sy_buf b = {0};
    sy_buf_add(&b, model_error_case >= 0 && model_error_case < 6 ? cases[model_error_case] : "unavailable");
    if (*model_error_text) {
        sy_buf_add(&b, ": ");
        sy_buf_add(&b, model_error_text);
    }
    return sy_buf_str(&b);
}

/* The node function's result, checked: a pending failure wins, the kind
 * must be one the role answers with, and every text must be UTF-8. */
static sy_result settle(sy_result r, int want) {
    static const char *const what[] = {"accept", "reject", "repair", "route", "output", "failure", "stream"};
    if (pending) {
        if (r.kind == SY_STREAM) sy_stream_close(r.stream);
        return pending_result;
    }
    if (r.kind == SY_FAIL) return utf8(r.text) ? r : sy_internal("the node's error message is not UTF-8");
    bool fits = want == SY_ROLE_JUDGE    ? (r.kind == SY_ACCEPT || r.kind == SY_REJECT || r.kind == SY_REPAIR)
                : want == SY_ROLE_ROUTER ? r.kind == SY_ROUTE
                                         : (r.kind == SY_OUTPUT || r.kind == SY_STREAM);
    if (!fits) {
        sy_buf b = {0};
        sy_buf_add(&b, "the node function returned ");
        sy_buf_add(&b, r.kind >= 0 && r.kind <= SY_STREAM ? what[r.kind] : "an unknown result");
        sy_buf_add(&b, want == SY_ROLE_JUDGE    ? ", not a verdict (sy_accept, sy_reject, sy_repair)"
                       : want == SY_ROLE_ROUTER ? ", not a route (sy_route)"
                                                : ", not an output (sy_output_json, sy_output_stream)");
        return sy_internal(sy_buf_str(&b));
    }
    bool ok = (!r.text || utf8(r.text)) && (!r.reason || utf8(r.reason));
    for (size_t i = 0; i < r.n_reasons; i++) ok = ok && utf8(r.reasons[i]);
    for (size_t i = 0; i < r.n_criteria; i++) ok = ok && utf8(r.criteria[i]);
    if (!ok && r.kind == SY_STREAM) sy_stream_close(r.stream);
    return ok ? r : sy_internal("the node returned text that is not UTF-8");
}

static sy_result missing(const char *macro) {
    sy_buf b = {0};
    sy_buf_add(&b, "this component's world needs a node declared with ");
    sy_buf_add(&b, macro);
    return sy_internal(sy_buf_str(&b));
}

/* Writes a failure into the bindings' node error (copies from malloc). */
static void to_error(const sy_result *r, switchyard_node_types_node_error_t *err) {
    switch (r->fail) {
    case SY_INVALID_INPUT:
        err->tag = SWITCHYARD_NODE_TYPES_NODE_ERROR_INVALID_INPUT;
        SY_W(string_dup)(&err->val.invalid_input, r->text);
        break;
    case SY_MODEL:
        err->tag = SWITCHYARD_NODE_TYPES_NODE_ERROR_MODEL;
        err->val.model.tag = (uint8_t)r->model_error;
        switch (r->model_error) {
        case SWITCHYARD_NODE_TYPES_MODEL_ERROR_UNAVAILABLE: SY_W(string_dup)(&err->val.model.val.unavailable, r->text); break;
        case SWITCHYARD_NODE_TYPES_MODEL_ERROR_DENIED: SY_W(string_dup)(&err->val.model.val.denied, r->text); break;
        case SWITCHYARD_NODE_TYPES_MODEL_ERROR_BUDGET_EXCEEDED: SY_W(string_dup)(&err->val.model.val.budget_exceeded, r->text); break;
        case SWITCHYARD_NODE_TYPES_MODEL_ERROR_INVALID_REQUEST: SY_W(string_dup)(&err->val.model.val.invalid_request, r->text); break;
        default: break;
        }
        break;
    default:
        err->tag = SWITCHYARD_NODE_TYPES_NODE_ERROR_INTERNAL;
        SY_W(string_dup)(&err->val.internal, r->text);
        break;
    }
}

/* --- the exports --------------------------------------------------------------------- */

/* A NULL-terminated list of names as the bindings' list (from malloc). */
static SY_W(list_string_t) names(const char *const *list) {
    SY_W(list_string_t) out = {NULL, 0};
    size_t n = 0;
    while (list && list[n]) n++;
    if (!n) return out;
    out.ptr = malloc(n * sizeof *out.ptr);
    if (!out.ptr) abort();
    for (size_t i = 0; i < n; i++) SY_W(string_dup)(&out.ptr[i], utf8(list[i]) ? list[i] : "");
    out.len = n;
    return out;
}

void exports_switchyard_node_describe_describe(exports_switchyard_node_describe_description_t *ret) {
    const sy_node *n = &sy_this_node;
    ret->role = n->role == SY_ROLE_ROUTER   ? SWITCHYARD_NODE_TYPES_NODE_ROLE_ROUTER
                : n->role == SY_ROLE_WORKER ? SWITCHYARD_NODE_TYPES_NODE_ROLE_WORKER
                                            : SWITCHYARD_NODE_TYPES_NODE_ROLE_JUDGE;
    SY_W(string_dup)(&ret->name, n->name ? n->name : "");
    SY_W(string_dup)(&ret->version, n->version ? n->version : "0.1.0");
    SY_W(string_dup)(&ret->summary, n->summary ? n->summary : "");
    ret->input_schema.is_some = n->input_schema != NULL;
    if (n->input_schema) SY_W(string_dup)(&ret->input_schema.val, n->input_schema);
    ret->output_schema.is_some = n->output_schema != NULL;
    if (n->output_schema) SY_W(string_dup)(&ret->output_schema.val, n->output_schema);
    ret->needs.models = names(n->needs_models);
    ret->needs.model_calls.is_some = n->needs_model_calls != 0;
    ret->needs.model_calls.val = n->needs_model_calls;
    ret->needs.settings = names(n->needs_settings);
    ret->checks_windows = n->role == SY_ROLE_JUDGE && n->check_window != NULL;
}

#if defined(SWITCHYARD_JUDGE_NODE)
/* A settled verdict into the bindings' judgement (copies from malloc). */
static bool to_judgement(sy_result r, exports_switchyard_node_judge_judgement_t *ret,
                         exports_switchyard_node_judge_node_error_t *err) {
    r = settle(r, SY_ROLE_JUDGE);
    bool ok = r.kind != SY_FAIL;
    if (!ok) {
        to_error(&r, err);
    } else {
        if (r.kind == SY_REJECT) {
            SY_W(string_t) *reasons = malloc(r.n_reasons * sizeof *reasons);
            if (!reasons) abort();
            for (size_t i = 0; i < r.n_reasons; i++) SY_W(string_dup)(&reasons[i], r.reasons[i]);
            ret->verdict.tag = SWITCHYARD_NODE_TYPES_VERDICT_REJECT;
            ret->verdict.val.reject.ptr = reasons;
            ret->verdict.val.reject.len = r.n_reasons;
        } else if (r.kind == SY_REPAIR) {
            ret->verdict.tag = SWITCHYARD_NODE_TYPES_VERDICT_REPAIR;
            SY_W(string_dup)(&ret->verdict.val.repair, r.text);
        } else {
            ret->verdict.tag = SWITCHYARD_NODE_TYPES_VERDICT_ACCEPT;
        }
        ret->score.is_some = r.has_score;
        ret->score.val = r.score;
        ret->criteria.ptr = NULL;
        ret->criteria.len = r.n_criteria;
        if (r.n_criteria) {
            ret->criteria.ptr = malloc(r.n_criteria * sizeof *ret->criteria.ptr);
            if (!ret->criteria.ptr) abort();
            for (size_t i = 0; i < r.n_criteria; i++) {
                SY_W(string_dup)(&ret->criteria.ptr[i].name, r.criteria[i]);
                ret->criteria.ptr[i].score = r.criteria_scores[i];
            }
        }
    }
    reset();
    return ok;
}

bool exports_switchyard_node_judge_judge(exports_switchyard_node_judge_task_t *task, wit_str *candidate,
                                         exports_switchyard_node_judge_judgement_t *ret,
                                         exports_switchyard_node_judge_node_error_t *err) {
    sy_task t = take_task(task);
    sy_str c = take(candidate);
    return to_judgement(sy_this_node.judge ? sy_this_node.judge(&t, c) : missing("SY_JUDGE"), ret, err);
}

bool exports_switchyard_node_judge_check_window(exports_switchyard_node_judge_task_t *task,
                                                exports_switchyard_node_judge_window_t *window,
                                                exports_switchyard_node_judge_judgement_t *ret,
                                                exports_switchyard_node_judge_node_error_t *err) {
    sy_task t = take_task(task);
    sy_window w;
    w.text = take(&window->text);
    w.before = take(&window->before);
    w.index = window->index;
    w.last = window->last;
    sy_result r = sy_this_node.check_window
                      ? sy_this_node.check_window(&t, &w)
                      : sy_internal("this judge does not check windows (no .check_window in SY_JUDGE)");
    return to_judgement(r, ret, err);
}
#endif

#if defined(SWITCHYARD_ROUTER_NODE)
bool exports_switchyard_node_router_route(exports_switchyard_node_router_task_t *task,
                                          SY_W(list_string_t) *candidates,
                                          exports_switchyard_node_router_decision_t *ret,
                                          exports_switchyard_node_router_node_error_t *err) {
    sy_task t = take_task(task);
    sy_strs c = copy_list(candidates->ptr, candidates->len);
    SY_W(list_string_free)(candidates);
    sy_result r = !sy_this_node.route ? missing("SY_ROUTER")
                  : c.len == 0        ? sy_invalid_input("no candidates to choose from")
                                      : sy_this_node.route(&t, c);
    r = settle(r, SY_ROLE_ROUTER);
    bool ok = r.kind != SY_FAIL;
    if (!ok) {
        to_error(&r, err);
    } else {
        SY_W(string_dup)(&ret->target, r.text);
        ret->confidence = r.confidence;
        SY_W(string_dup)(&ret->reason, r.reason);
    }
    reset();
    return ok;
}
#endif

#if defined(SWITCHYARD_WORKER_NODE)
bool exports_switchyard_node_worker_run(exports_switchyard_node_worker_task_t *task,
                                        exports_switchyard_node_worker_reply_t *ret,
                                        exports_switchyard_node_worker_node_error_t *err) {
    sy_task t = take_task(task);
    sy_result r = sy_this_node.run ? sy_this_node.run(&t) : missing("SY_WORKER");
    r = settle(r, SY_ROLE_WORKER);
    bool ok = r.kind != SY_FAIL;
    if (!ok) {
        to_error(&r, err);
    } else if (r.kind == SY_STREAM) {
        ret->tag = EXPORTS_SWITCHYARD_NODE_WORKER_REPLY_STREAM;
        ret->val.stream.body.__handle = r.stream.handle;
        ret->val.stream.field.is_some = r.text != NULL;
        if (r.text) SY_W(string_dup)(&ret->val.stream.field.val, r.text);
        SY_W(string_dup)(&ret->val.stream.base, r.reason ? r.reason : "");
    } else {
        ret->tag = EXPORTS_SWITCHYARD_NODE_WORKER_REPLY_JSON;
        SY_W(string_dup)(&ret->val.json, r.text);
    }
    reset();
    return ok;
}
#endif
