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

bool sy_complete(const sy_request *req, sy_completion *out) {
    switchyard_node_types_message_t messages[2];
    size_t n = 0;
    if (req->system) {
        messages[n].role = SWITCHYARD_NODE_TYPES_ROLE_SYSTEM;
        SY_W(string_set)(&messages[n++].content, req->system);
    }
    messages[n].role = SWITCHYARD_NODE_TYPES_ROLE_USER;
    SY_W(string_set)(&messages[n++].content, req->user ? req->user : "");
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
    SY_W(string_set)(&r.extra_json, req->extra_json ? req->extra_json : "");

    switchyard_node_models_completion_t answer;
    switchyard_node_models_model_error_t error;
    if (switchyard_node_models_complete(&r, &answer, &error)) {
        out->content = take(&answer.content);
        out->model = take(&answer.model);
        out->input_tokens = answer.usage.input_tokens;
        out->output_tokens = answer.usage.output_tokens;
        return true;
    }
    model_failed = true;
    model_error_case = error.tag;
    model_error_text = "";
    if (error.tag >= SWITCHYARD_NODE_TYPES_MODEL_ERROR_UNAVAILABLE) {
        /* Every case with text holds one string at the same place. */
        model_error_text = take(&error.val.unavailable).ptr;
    }
    out->content = out->model = (sy_str){"", 0};
    out->input_tokens = out->output_tokens = 0;
    return false;
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
    if (v->kind != SY_REJECT) *v = result(SY_REJECT);
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
    static const char *const what[] = {"accept", "reject", "repair", "route", "output", "failure"};
    if (pending) return pending_result;
    if (r.kind == SY_FAIL) return utf8(r.text) ? r : sy_internal("the node's error message is not UTF-8");
    bool fits = want == SY_ROLE_JUDGE    ? (r.kind == SY_ACCEPT || r.kind == SY_REJECT || r.kind == SY_REPAIR)
                : want == SY_ROLE_ROUTER ? r.kind == SY_ROUTE
                                         : r.kind == SY_OUTPUT;
    if (!fits) {
        sy_buf b = {0};
        sy_buf_add(&b, "the node function returned ");
        sy_buf_add(&b, r.kind >= 0 && r.kind <= SY_FAIL ? what[r.kind] : "an unknown result");
        sy_buf_add(&b, want == SY_ROLE_JUDGE    ? ", not a verdict (sy_accept, sy_reject, sy_repair)"
                       : want == SY_ROLE_ROUTER ? ", not a route (sy_route)"
                                                : ", not an output (sy_output_json)");
        return sy_internal(sy_buf_str(&b));
    }
    bool ok = (!r.text || utf8(r.text)) && (!r.reason || utf8(r.reason));
    for (size_t i = 0; i < r.n_reasons; i++) ok = ok && utf8(r.reasons[i]);
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
}

#if defined(SWITCHYARD_JUDGE_NODE)
bool exports_switchyard_node_judge_judge(exports_switchyard_node_judge_task_t *task, wit_str *candidate,
                                         exports_switchyard_node_judge_verdict_t *ret,
                                         exports_switchyard_node_judge_node_error_t *err) {
    sy_task t = take_task(task);
    sy_str c = take(candidate);
    sy_result r = sy_this_node.judge ? sy_this_node.judge(&t, c) : missing("SY_JUDGE");
    r = settle(r, SY_ROLE_JUDGE);
    bool ok = r.kind != SY_FAIL;
    if (!ok) {
        to_error(&r, err);
    } else if (r.kind == SY_REJECT) {
        wit_str *reasons = malloc(r.n_reasons * sizeof *reasons);
        if (!reasons) abort();
        for (size_t i = 0; i < r.n_reasons; i++) SY_W(string_dup)(&reasons[i], r.reasons[i]);
        ret->tag = SWITCHYARD_NODE_TYPES_VERDICT_REJECT;
        ret->val.reject.ptr = reasons;
        ret->val.reject.len = r.n_reasons;
    } else if (r.kind == SY_REPAIR) {
        ret->tag = SWITCHYARD_NODE_TYPES_VERDICT_REPAIR;
        SY_W(string_dup)(&ret->val.repair, r.text);
    } else {
        ret->tag = SWITCHYARD_NODE_TYPES_VERDICT_ACCEPT;
    }
    reset();
    return ok;
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
bool exports_switchyard_node_worker_run(exports_switchyard_node_worker_task_t *task, wit_str *ret,
                                        exports_switchyard_node_worker_node_error_t *err) {
    sy_task t = take_task(task);
    sy_result r = sy_this_node.run ? sy_this_node.run(&t) : missing("SY_WORKER");
    r = settle(r, SY_ROLE_WORKER);
    bool ok = r.kind != SY_FAIL;
    if (!ok) to_error(&r, err);
    else SY_W(string_dup)(ret, r.text);
    reset();
    return ok;
}
#endif
