/* Native unit tests of the C kit: its JSON helpers, text buffer, settings
 * and the judge export's conversions, with the host's imports stubbed.
 *
 *   cc -std=c11 -Wall -Wextra -I <dir with gen/judge_node.h> -o t test_switchyard_node.c && ./t
 *
 * (plugins/c/judge-length/build.sh runs them.) It includes the kit's .c
 * for the judge world and stands in for gen/judge_node.c: the string
 * helpers, the free functions and the imports the kit calls. Prints
 * "N passed, N failed". */
#define SWITCHYARD_JUDGE_NODE
#include "switchyard_node.c"

#include <stdio.h>

/* --- stand-ins for gen/judge_node.c ---------------------------------------- */

void judge_node_string_set(judge_node_string_t *ret, const char *s) {
    ret->ptr = (uint8_t *)s;
    ret->len = strlen(s);
}

void judge_node_string_dup(judge_node_string_t *ret, const char *s) {
    ret->len = strlen(s);
    ret->ptr = ret->len ? malloc(ret->len) : NULL; /* as the bindings: nothing for "" */
    if (ret->len) memcpy(ret->ptr, s, ret->len);
}

void judge_node_string_free(judge_node_string_t *ret) {
    if (ret->len > 0) free(ret->ptr);
    ret->ptr = NULL;
    ret->len = 0;
}

void judge_node_list_string_free(judge_node_list_string_t *ptr) {
    for (size_t i = 0; i < ptr->len; i++) judge_node_string_free(&ptr->ptr[i]);
    if (ptr->len > 0) free(ptr->ptr);
}

void switchyard_node_types_task_free(switchyard_node_types_task_t *ptr) {
    judge_node_string_free(&ptr->id);
    judge_node_string_free(&ptr->input);
    judge_node_string_free(&ptr->meta);
    judge_node_list_string_free(&ptr->feedback);
}

/* The settings the stubbed host has: key, JSON text. */
static const char *setting_key, *setting_value;

bool switchyard_node_config_get(judge_node_string_t *key, judge_node_string_t *ret) {
    if (!setting_key || key->len != strlen(setting_key) || memcmp(key->ptr, setting_key, key->len) != 0) return false;
    judge_node_string_dup(ret, setting_value);
    return true;
}

void switchyard_node_log_emit(switchyard_node_log_level_t level, judge_node_string_t *message) {
    (void)level;
    (void)message;
}

bool switchyard_node_models_complete(switchyard_node_models_completion_request_t *request,
                                     switchyard_node_models_completion_t *ret,
                                     switchyard_node_models_model_error_t *err) {
    (void)request;
    (void)ret;
    err->tag = SWITCHYARD_NODE_TYPES_MODEL_ERROR_DENIED;
    judge_node_string_dup(&err->val.denied, "model `big` is not granted");
    return false;
}

bool switchyard_node_models_stream(switchyard_node_models_completion_request_t *request,
                                   switchyard_node_models_own_completion_stream_t *ret,
                                   switchyard_node_models_model_error_t *err) {
    (void)request;
    (void)err;
    ret->__handle = 7;
    return true;
}

/* The stubbed stream: two deltas, then done. */
static int stream_reads;

bool switchyard_node_models_method_completion_stream_next(switchyard_node_models_borrow_completion_stream_t self,
                                                          switchyard_node_models_result_chunk_model_error_t *ret) {
    if (self.__handle != 7 || stream_reads > 2) return false;
    memset(ret, 0, sizeof *ret);
    if (stream_reads < 2) {
        ret->val.ok.tag = SWITCHYARD_NODE_TYPES_CHUNK_DELTA;
        judge_node_string_dup(&ret->val.ok.val.delta, stream_reads == 0 ? "Hel" : "lo");
    } else {
        ret->val.ok.tag = SWITCHYARD_NODE_TYPES_CHUNK_DONE;
        judge_node_string_dup(&ret->val.ok.val.done.content, "");
        judge_node_string_dup(&ret->val.ok.val.done.model, "small");
        ret->val.ok.val.done.usage.output_tokens = 2;
        ret->val.ok.val.done.finish_reason = SWITCHYARD_NODE_TYPES_FINISH_REASON_STOP;
    }
    stream_reads++;
    return true;
}

static int dropped_stream = -1;

void switchyard_node_models_completion_stream_drop_own(switchyard_node_models_own_completion_stream_t handle) {
    dropped_stream = handle.__handle;
}

bool switchyard_node_models_embed(switchyard_node_models_embedding_request_t *request,
                                  switchyard_node_models_embeddings_t *ret,
                                  switchyard_node_models_model_error_t *err) {
    (void)err;
    size_t n = request->inputs.len;
    ret->vectors.ptr = malloc(n * sizeof *ret->vectors.ptr);
    ret->vectors.len = n;
    for (size_t i = 0; i < n; i++) {
        ret->vectors.ptr[i].ptr = malloc(2 * sizeof(float));
        ret->vectors.ptr[i].ptr[0] = (float)i;
        ret->vectors.ptr[i].ptr[1] = 0.5f;
        ret->vectors.ptr[i].len = 2;
    }
    judge_node_string_dup(&ret->model, "embedder");
    ret->usage.input_tokens = 3;
    ret->usage.output_tokens = 0;
    return true;
}

void judge_node_list_list_f32_free(judge_node_list_list_f32_t *ptr) {
    for (size_t i = 0; i < ptr->len; i++)
        if (ptr->ptr[i].len) free(ptr->ptr[i].ptr);
    if (ptr->len) free(ptr->ptr);
}

/* --- the node under test ------------------------------------------------------ */

static sy_verdict (*judge_fn)(const sy_task *, sy_str);
static sy_verdict dispatch(const sy_task *t, sy_str c) { return judge_fn(t, c); }
static sy_verdict upper_window(const sy_task *t, const sy_window *w) {
    (void)t;
    if (!sy_contains(w->text.ptr, "@")) return sy_accept();
    sy_verdict v = sy_scored(sy_repair("[REDACTED]"), 0.5);
    sy_add_criterion(&v, "privacy", 0.0);
    return w->index == 3 && w->last ? v : sy_internal("bad window");
}
SY_JUDGE("kit-test", "1.2.3", "tests the kit", dispatch, .input_schema = "{}", .check_window = upper_window,
         .needs_settings = (const char *[]){"banned", NULL}, .needs_model_calls = 2);

static int passed, failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (cond) passed++;                                                     \
        else {                                                                  \
            failed++;                                                           \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

static bool is(const char *got, const char *want) { return got && strcmp(got, want) == 0; }

/* Runs the judge export on `candidate` with the given node function. */
static switchyard_node_types_task_t a_task(void) {
    switchyard_node_types_task_t task;
    memset(&task, 0, sizeof task);
    judge_node_string_dup(&task.id, "t1");
    judge_node_string_dup(&task.input, "{\"body\": \"hi\"}");
    judge_node_string_dup(&task.meta, "{}");
    return task;
}

/* Runs the judge export on `candidate` with the given node function; the
 * verdict of the judgement lands in `*ret`, the judgement in `last`. */
static exports_switchyard_node_judge_judgement_t last;

static bool judge(sy_verdict (*fn)(const sy_task *, sy_str), const char *candidate,
                  switchyard_node_types_verdict_t *ret, exports_switchyard_node_judge_node_error_t *err) {
    judge_fn = fn;
    switchyard_node_types_task_t task = a_task();
    judge_node_string_t c;
    judge_node_string_dup(&c, candidate);
    memset(&last, 0, sizeof last);
    bool ok = exports_switchyard_node_judge_judge(&task, &c, &last, err);
    *ret = last.verdict;
    return ok;
}

static bool wit_is(judge_node_string_t s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static sy_verdict two_reasons(const sy_task *t, sy_str c) {
    sy_verdict v = sy_accept();
    if (!sy_eq(t->id, "t1") || !is(sy_json_string_field(t->input, "body"), "hi")) return sy_internal("bad task");
    sy_add_reason(&v, "first");
    sy_add_reason(&v, c.ptr);
    return v;
}
static sy_verdict banned(const sy_task *t, sy_str c) {
    (void)t;
    return sy_contains(c.ptr, sy_setting_string("banned", "TODO")) ? sy_reject("banned") : sy_accept();
}
static sy_verdict routes(const sy_task *t, sy_str c) {
    (void)t;
    (void)c;
    return sy_route("x", 1, "");
}
static sy_verdict not_utf8(const sy_task *t, sy_str c) {
    (void)t;
    (void)c;
    return sy_reject("\xff");
}
static sy_verdict asks(const sy_task *t, sy_str c) {
    (void)t;
    (void)c;
    sy_request req = {.model = "big", .user = "hi"};
    sy_completion answer;
    if (!sy_complete(&req, &answer)) return sy_model_failure();
    return sy_accept();
}
static sy_verdict scores(const sy_task *t, sy_str c) {
    (void)t;
    (void)c;
    sy_verdict v = sy_scored(sy_accept(), 0.25);
    sy_add_criterion(&v, "tone", 0.5);
    sy_add_reason(&v, "rude"); /* keeps the scores */
    return v;
}
static sy_verdict reads_stream(const sy_task *t, sy_str c) {
    (void)t;
    (void)c;
    sy_request req = {.model = "small", .user = "hi"};
    sy_stream s;
    if (!sy_stream_start(&req, &s)) return sy_model_failure();
    sy_buf b = {0};
    sy_str delta;
    sy_completion done;
    while (sy_stream_next(s, &delta, &done) == 1) sy_buf_add(&b, delta.ptr);
    sy_stream_close(s);
    if (!is(sy_buf_str(&b), "Hello") || !sy_eq(done.model, "small") || done.output_tokens != 2) return sy_internal("bad stream");
    const char *texts[] = {"a", "b"};
    sy_embeddings e;
    if (!sy_embed("embedder", texts, 2, &e)) return sy_model_failure();
    if (e.len != 2 || e.vectors[1].len != 2 || e.vectors[1].values[0] != 1.0f || !sy_eq(e.model, "embedder"))
        return sy_internal("bad embeddings");
    return sy_accept();
}
static sy_verdict repairs(const sy_task *t, sy_str c) {
    (void)t;
    (void)c;
    return sy_repair(sy_json_quote("fixed \"it\"\n"));
}

int main(void) {
    /* JSON: fields, decoding, unquoting, quoting. */
    sy_str doc = sy_str_of("{\"a\": [1, {\"b\": \"}\"}], \"s\\u0074r\": \"caf\\u00e9 \\ud83d\\ude00\\n\", "
                           "\"n\": -1.5e3, \"t\": true}");
    CHECK(is(sy_json_string_field(doc, "str"), "caf\xc3\xa9 \xf0\x9f\x98\x80\n"));
    CHECK(sy_json_string_field(doc, "n") == NULL);
    CHECK(sy_json_string_field(doc, "missing") == NULL);
    CHECK(is(sy_json_field(doc, "n").ptr, "-1.5e3"));
    CHECK(is(sy_json_field(doc, "a").ptr, "[1, {\"b\": \"}\"}]"));
    CHECK(is(sy_json_field(doc, "t").ptr, "true"));
    CHECK(sy_json_field(sy_str_of("[1]"), "a").ptr == NULL);
    CHECK(sy_json_string_field(sy_str_of("{\"a\": \"unterminated}"), "a") == NULL);
    CHECK(is(sy_json_unquote(sy_str_of("  \"a\\\"b\\\\\"  ")), "a\"b\\"));
    CHECK(sy_json_unquote(sy_str_of("\"a\" x")) == NULL);
    CHECK(sy_json_unquote(sy_str_of("3")) == NULL);
    CHECK(is(sy_json_unquote(sy_str_of("\"\\ud800\"")), "\xef\xbf\xbd"));
    CHECK(is(sy_json_quote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\""));

    /* Strings and the buffer. */
    CHECK(sy_contains("hello", "ll") && !sy_contains("hello", "") && !sy_contains("hello", "L"));
    CHECK(sy_contains_nocase("URGENT: down", "urgent") && !sy_contains_nocase("urge", "urgent"));
    sy_str items[] = {sy_str_of("normal"), sy_str_of("urgent")};
    CHECK(sy_has((sy_strs){items, 2}, "urgent") && !sy_has((sy_strs){items, 2}, "urg"));
    sy_buf b = {0};
    CHECK(is(sy_buf_str(&b), ""));
    for (int i = 0; i < 100; i++) sy_buf_add(&b, "x");
    sy_buf_add_uint(&b, 0);
    sy_buf_add_uint(&b, 18446744073709551615u);
    CHECK(b.len == 121 && is(b.ptr + 100, "018446744073709551615"));
    reset();

    /* The judge export: reasons, task, settings, errors. */
    switchyard_node_types_verdict_t v;
    exports_switchyard_node_judge_node_error_t e;
    CHECK(judge(two_reasons, "second", &v, &e));
    CHECK(v.tag == SWITCHYARD_NODE_TYPES_VERDICT_REJECT && v.val.reject.len == 2);
    CHECK(wit_is(v.val.reject.ptr[0], "first") && wit_is(v.val.reject.ptr[1], "second"));
    judge_node_list_string_free(&v.val.reject);
    CHECK(arena == NULL);

    CHECK(judge(banned, "\"a TODO\"", &v, &e) && v.tag == SWITCHYARD_NODE_TYPES_VERDICT_REJECT);
    judge_node_list_string_free(&v.val.reject);
    setting_key = "banned";
    setting_value = "\"x\"";
    CHECK(judge(banned, "\"a TODO\"", &v, &e) && v.tag == SWITCHYARD_NODE_TYPES_VERDICT_ACCEPT);
    setting_value = "[\"x\"]";
    CHECK(!judge(banned, "\"a TODO\"", &v, &e) && e.tag == SWITCHYARD_NODE_TYPES_NODE_ERROR_INVALID_INPUT);
    CHECK(wit_is(e.val.invalid_input, "setting `banned` must be a JSON string"));
    judge_node_string_free(&e.val.invalid_input);
    /* The failure does not stick to the next call. */
    setting_key = NULL;
    CHECK(judge(banned, "\"ok\"", &v, &e) && v.tag == SWITCHYARD_NODE_TYPES_VERDICT_ACCEPT);

    CHECK(!judge(routes, "x", &v, &e) && e.tag == SWITCHYARD_NODE_TYPES_NODE_ERROR_INTERNAL);
    CHECK(wit_is(e.val.internal, "the node function returned route, not a verdict (sy_accept, sy_reject, sy_repair)"));
    judge_node_string_free(&e.val.internal);
    CHECK(!judge(not_utf8, "x", &v, &e) && e.tag == SWITCHYARD_NODE_TYPES_NODE_ERROR_INTERNAL);
    judge_node_string_free(&e.val.internal);

    CHECK(!judge(asks, "x", &v, &e) && e.tag == SWITCHYARD_NODE_TYPES_NODE_ERROR_MODEL);
    CHECK(e.val.model.tag == SWITCHYARD_NODE_TYPES_MODEL_ERROR_DENIED &&
          wit_is(e.val.model.val.denied, "model `big` is not granted"));
    judge_node_string_free(&e.val.model.val.denied);

    CHECK(judge(repairs, "x", &v, &e) && v.tag == SWITCHYARD_NODE_TYPES_VERDICT_REPAIR);
    CHECK(wit_is(v.val.repair, "\"fixed \\\"it\\\"\\n\""));
    judge_node_string_free(&v.val.repair);

    /* Scores and criteria. */
    CHECK(judge(scores, "x", &v, &e) && v.tag == SWITCHYARD_NODE_TYPES_VERDICT_REJECT);
    CHECK(last.score.is_some && last.score.val == 0.25 && last.criteria.len == 1);
    CHECK(wit_is(last.criteria.ptr[0].name, "tone") && last.criteria.ptr[0].score == 0.5);
    judge_node_list_string_free(&v.val.reject);
    judge_node_string_free(&last.criteria.ptr[0].name);
    free(last.criteria.ptr);
    CHECK(judge(two_reasons, "y", &v, &e) && !last.score.is_some && last.criteria.len == 0);
    judge_node_list_string_free(&v.val.reject);

    /* Streams and embeddings. */
    CHECK(judge(reads_stream, "x", &v, &e) && v.tag == SWITCHYARD_NODE_TYPES_VERDICT_ACCEPT);
    CHECK(dropped_stream == 7 && arena == NULL);

    /* The window check. */
    switchyard_node_types_task_t task = a_task();
    switchyard_node_types_window_t w;
    judge_node_string_dup(&w.text, "mail a@b.io");
    judge_node_string_dup(&w.before, "Hi. ");
    w.index = 3;
    w.last = true;
    memset(&last, 0, sizeof last);
    CHECK(exports_switchyard_node_judge_check_window(&task, &w, &last, &e));
    CHECK(last.verdict.tag == SWITCHYARD_NODE_TYPES_VERDICT_REPAIR && wit_is(last.verdict.val.repair, "[REDACTED]"));
    CHECK(last.score.is_some && last.score.val == 0.5 && last.criteria.len == 1);
    judge_node_string_free(&last.verdict.val.repair);
    judge_node_string_free(&last.criteria.ptr[0].name);
    free(last.criteria.ptr);

    /* describe */
    exports_switchyard_node_describe_description_t d;
    exports_switchyard_node_describe_describe(&d);
    CHECK(d.role == SWITCHYARD_NODE_TYPES_NODE_ROLE_JUDGE && wit_is(d.name, "kit-test") && wit_is(d.version, "1.2.3"));
    CHECK(d.input_schema.is_some && wit_is(d.input_schema.val, "{}") && !d.output_schema.is_some);
    CHECK(d.checks_windows && d.needs.models.len == 0 && d.needs.settings.len == 1);
    CHECK(wit_is(d.needs.settings.ptr[0], "banned") && d.needs.model_calls.is_some && d.needs.model_calls.val == 2);
    judge_node_list_string_free(&d.needs.settings);
    judge_node_string_free(&d.name);
    judge_node_string_free(&d.version);
    judge_node_string_free(&d.summary);
    judge_node_string_free(&d.input_schema.val);

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
