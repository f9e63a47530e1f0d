/* judge-length: a guardrail judge (world judge-node, granted no models) that
 * rejects candidates whose text is longer than the `max-chars` setting
 * (default 1200 characters) or contains control characters.
 *
 * The checks live in length.c (plain C, unit-tested natively); this file
 * maps them onto the bindings that `wit-bindgen c` generated in gen/. Memory
 * rules of those bindings: the callee owns and frees its arguments; returned
 * strings and lists must come from malloc, since the generated post-return
 * functions free them. No libc I/O is used, so the core module imports
 * nothing from WASI and the component needs no adapter. */
#include <stdlib.h>
#include <string.h>

#include "gen/judge_node.h"
#include "length.h"

#define VERSION "0.1.0"

/* gen/judge_node.c references this symbol to force the linking of the
 * `*_component_type.o` object that `wit-bindgen c` writes by default. We
 * generate with --no-object-file (no binary in the repository) and let
 * `wasm-tools component embed` add the component type instead (build.sh), so
 * the symbol is defined here, empty. */
void __component_type_object_force_link_judge_node(void) {}

void exports_switchyard_node_describe_describe(exports_switchyard_node_describe_description_t *ret) {
    ret->role = SWITCHYARD_NODE_TYPES_NODE_ROLE_JUDGE;
    judge_node_string_dup(&ret->name, "judge-length");
    judge_node_string_dup(&ret->version, VERSION);
    judge_node_string_dup(&ret->summary,
                          "Rejects candidates longer than the `max-chars` setting (default 1200 characters) "
                          "or containing control characters; checks the `reply`/`answer` field when there is one.");
    ret->input_schema.is_some = false;
    ret->output_schema.is_some = false;
}

static void log_debug(const char *message) {
    judge_node_string_t text;
    judge_node_string_set(&text, message); /* borrowed for the call */
    switchyard_node_log_emit(SWITCHYARD_NODE_LOG_LEVEL_DEBUG, &text);
}

bool exports_switchyard_node_judge_judge(exports_switchyard_node_judge_task_t *task,
                                         judge_node_string_t *candidate,
                                         exports_switchyard_node_judge_verdict_t *ret,
                                         exports_switchyard_node_judge_node_error_t *err) {
    uint32_t max_chars = LENGTH_DEFAULT_MAX_CHARS;
    judge_node_string_t key, setting;
    length_report report;
    char buf[LENGTH_REASONS_BUF];
    bool ok = true;

    judge_node_string_set(&key, "max-chars");
    if (switchyard_node_config_get(&key, &setting)) {
        int bad = length_parse_max_chars((const char *)setting.ptr, setting.len, &max_chars);
        judge_node_string_free(&setting);
        if (bad) {
            err->tag = SWITCHYARD_NODE_TYPES_NODE_ERROR_INVALID_INPUT;
            judge_node_string_dup(&err->val.invalid_input,
                                  "setting `max-chars` must be a positive integer (characters), e.g. 1200");
            ok = false;
        }
    }

    if (ok) {
        length_check((const char *)candidate->ptr, candidate->len, &report);
        length_summary(&report, max_chars, buf);
        log_debug(buf);
        size_t n = length_reasons(&report, max_chars, buf);
        if (n == 0) {
            ret->tag = SWITCHYARD_NODE_TYPES_VERDICT_ACCEPT;
        } else {
            judge_node_string_t *reasons = malloc(n * sizeof *reasons);
            if (!reasons) abort();
            const char *reason = buf;
            for (size_t i = 0; i < n; i++) {
                judge_node_string_dup(&reasons[i], reason);
                reason += strlen(reason) + 1;
            }
            ret->tag = SWITCHYARD_NODE_TYPES_VERDICT_REJECT;
            ret->val.reject.ptr = reasons;
            ret->val.reject.len = n;
        }
    }

    switchyard_node_types_task_free(task);
    judge_node_string_free(candidate);
    return ok;
}
