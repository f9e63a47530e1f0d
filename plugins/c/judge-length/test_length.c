/* Native unit tests of length.c: `cc -std=c11 -Wall -o t test_length.c
 * length.c && ./t` (build.sh runs them when a native cc is present). Prints
 * "N passed, N failed". */
#include <stdio.h>
#include <string.h>

#include "length.h"

static int passed, failed;

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (cond) passed++;                                              \
        else {                                                           \
            failed++;                                                    \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                \
    } while (0)

static length_report check(const char *s) {
    length_report r;
    length_check(s, strlen(s), &r);
    return r;
}

static size_t reasons(const char *s, uint32_t max, char *buf) {
    length_report r = check(s);
    return length_reasons(&r, max, buf);
}

int main(void) {
    char buf[LENGTH_REASONS_BUF];
    length_report r;
    uint32_t max;

    /* Which text is checked. */
    r = check("{\"reply\": \"hello\", \"model\": \"small-model-name\"}");
    CHECK(r.source == 1 && r.chars == 5 && r.controls == 0);
    r = check("{\"answer\": \"hi\", \"other\": [\"long text here\"]}");
    CHECK(r.source == 2 && r.chars == 2);
    r = check("{\"answer\": \"a\", \"reply\": \"bc\"}");
    CHECK(r.source == 1 && r.chars == 2);
    r = check("  \"caf\xc3\xa9 \\u00e9\\ud83d\\ude00\"  ");
    CHECK(r.source == 3 && r.chars == 7);
    r = check("{\"items\": [\"ab\", {\"k\": \"cd\"}], \"n\": -1.5e3, \"ok\": true, \"x\": null}");
    CHECK(r.source == 4 && r.chars == 4);
    r = check("{\"reply\": 3}");
    CHECK(r.source == 4 && r.chars == 0);
    r = check("not json at all");
    CHECK(r.source == 0 && r.chars == 15);
    r = check("{\"reply\": \"unterminated}");
    CHECK(r.source == 0);
    r = check("[1, 2,]");
    CHECK(r.source == 0);

    /* Control characters. */
    r = check("{\"reply\": \"line one\\nline two\\ttab\\r\\n\"}");
    CHECK(r.controls == 0 && r.chars == 23);
    r = check("{\"reply\": \"bell\\u0007 and esc\\u001b and c1\\u0085\"}");
    CHECK(r.controls == 3 && r.first_control == 7 && r.first_control_at == 4);
    r = check("raw \x01 control");
    CHECK(r.source == 0 && r.controls == 1 && r.first_control == 1 && r.first_control_at == 4);
    r = check("\"del\x7f\"");
    CHECK(r.source == 3 && r.controls == 1 && r.first_control == 0x7f);

    /* Reasons. */
    CHECK(reasons("{\"reply\": \"short\"}", 10, buf) == 0);
    CHECK(reasons("{\"reply\": \"exactly10!\"}", 10, buf) == 0);
    CHECK(reasons("{\"reply\": \"eleven chars\"}", 10, buf) == 1);
    CHECK(strcmp(buf, "too long: the `reply` field has 12 characters, over the limit of 10 "
                      "(setting `max-chars`); shorten it") == 0);
    CHECK(reasons("\"ab\\u0007cdefghijkl\"", 10, buf) == 2);
    CHECK(strcmp(buf + strlen(buf) + 1, "control characters: the string has 1 (the first, U+0007, "
                                        "at character 2); remove them") == 0);
    /* Multi-byte characters count once. */
    CHECK(reasons("\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"", 3, buf) == 0);

    /* The log summary. */
    r = check("{\"reply\": \"a\\u0001b\"}");
    length_summary(&r, 1200, buf);
    CHECK(strcmp(buf, "the `reply` field: 3 characters (max-chars 1200), 1 control characters") == 0);

    /* The max-chars setting. */
    CHECK(length_parse_max_chars("800", 3, &max) == 0 && max == 800);
    CHECK(length_parse_max_chars(" 800.0 ", 7, &max) == 0 && max == 800);
    CHECK(length_parse_max_chars("4294967295", 10, &max) == 0 && max == 4294967295u);
    CHECK(length_parse_max_chars("4294967296", 10, &max) == -1);
    CHECK(length_parse_max_chars("0", 1, &max) == -1);
    CHECK(length_parse_max_chars("-5", 2, &max) == -1);
    CHECK(length_parse_max_chars("12.5", 4, &max) == -1);
    CHECK(length_parse_max_chars("\"800\"", 5, &max) == -1);
    CHECK(length_parse_max_chars("", 0, &max) == -1);

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
