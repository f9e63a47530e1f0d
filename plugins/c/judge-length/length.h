/* The checks of judge-length, in plain C: no WIT bindings, no libc I/O, no
 * allocation. Tested natively by test_length.c; glued to the judge-node
 * world by judge_length.c. */
#ifndef JUDGE_LENGTH_H
#define JUDGE_LENGTH_H

#include <stddef.h>
#include <stdint.h>

/* The default for the `max-chars` setting. */
#define LENGTH_DEFAULT_MAX_CHARS 1200u

/* What the checks found in one candidate. */
typedef struct {
    /* Which text was checked: 1 = a `reply`/`answer` string field, 2 = a
     * JSON string, 3 = every string value of other JSON, 0 = raw text (not
     * JSON). */
    int source;
    /* Characters (Unicode scalar values) in the checked text. */
    uint64_t chars;
    /* Control characters found (C0 except tab, line feed and carriage
     * return; DEL; C1), and the first one and its character offset. */
    uint64_t controls;
    uint32_t first_control;
    uint64_t first_control_at;
} length_report;

/* Checks `candidate` (JSON text, `len` bytes of UTF-8): the text checked is
 * its `reply` or `answer` string field if it is a JSON object with one, the
 * string itself if it is a JSON string, every string value if it is other
 * JSON, or the raw bytes if it is not JSON at all. */
void length_check(const char *candidate, size_t len, length_report *out);

/* Parses the `max-chars` setting (JSON text): a positive integer, at most
 * 2^32-1 (a JSON number like 800 or 800.0). Returns 0 and sets `*out`, or -1
 * if it is not such a number. */
int length_parse_max_chars(const char *json, size_t len, uint32_t *out);

/* Writes the rejection reasons for `report` against `max_chars` into `buf`
 * (each NUL-terminated, one after another); returns how many (0 = accept).
 * `buf` needs at most LENGTH_REASONS_BUF bytes. */
#define LENGTH_REASONS_BUF 512
size_t length_reasons(const length_report *report, uint32_t max_chars, char *buf);

/* Writes a one-line summary of `report` for the debug log into `buf`
 * (NUL-terminated, at most LENGTH_REASONS_BUF bytes). */
void length_summary(const length_report *report, uint32_t max_chars, char *buf);

#endif
