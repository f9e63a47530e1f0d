/* judge-length: a guardrail judge (world judge-node, granted no models) that
 * rejects candidates whose text is longer than the `max-chars` setting
 * (default 1200 characters) or contains control characters.
 *
 * The checks live in length.c (plain C, unit-tested natively); this file
 * makes them a judge with the C kit (host/kits/c/switchyard_node.h), which
 * implements the exports of the bindings in gen/ and owns their memory. No
 * libc I/O is used, so the core module imports nothing from WASI and the
 * component needs no adapter. */
#include <string.h>

#include "length.h"
#include "switchyard_node.h"

static sy_verdict check(const sy_task *task, sy_str candidate) {
    uint32_t max_chars = LENGTH_DEFAULT_MAX_CHARS;
    sy_str setting = sy_setting("max-chars");
    length_report report;
    char buf[LENGTH_REASONS_BUF];
    (void)task;

    if (setting.ptr && length_parse_max_chars(setting.ptr, setting.len, &max_chars) != 0)
        return sy_invalid_input("setting `max-chars` must be a positive integer (characters), e.g. 1200");
    length_check(candidate.ptr, candidate.len, &report);
    length_summary(&report, max_chars, buf);
    sy_log_debug(buf);

    /* The reasons come NUL-separated in buf; none means accept. */
    sy_verdict verdict = sy_accept();
    size_t n = length_reasons(&report, max_chars, buf);
    for (const char *reason = buf; n > 0; n--, reason += strlen(reason) + 1) sy_add_reason(&verdict, reason);
    return verdict;
}

SY_JUDGE("judge-length", "0.1.0",
         "Rejects candidates longer than the `max-chars` setting (default 1200 characters) "
         "or containing control characters; checks the `reply`/`answer` field when there is one.",
         check, .needs_settings = (const char *[]){"max-chars", NULL});
