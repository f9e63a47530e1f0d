/* The checks of judge-length: see length.h. A small validating JSON walker
 * (no allocation, bounded nesting) that decodes string values as it goes. */
#include "length.h"

#define MAX_DEPTH 200

/* Where decoded characters go. */
typedef struct {
    int counting; /* 0: only validate */
    uint64_t chars, controls, first_at;
    uint32_t first;
} sink;

static int is_control(uint32_t cp) {
    return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f ||
           (cp >= 0x80 && cp <= 0x9f);
}

static void put(sink *s, uint32_t cp) {
    if (!s->counting) return;
    if (is_control(cp)) {
        if (s->controls == 0) {
            s->first = cp;
            s->first_at = s->chars;
        }
        s->controls++;
    }
    s->chars++;
}

/* Decodes one UTF-8 sequence at *p (the input is valid UTF-8: component
 * model strings are); returns the code point and advances *p. */
static uint32_t utf8_next(const unsigned char **p, const unsigned char *end) {
    const unsigned char *s = *p;
    uint32_t cp = s[0];
    size_t n = cp < 0x80 ? 1 : cp < 0xe0 ? 2 : cp < 0xf0 ? 3 : 4;
    if ((size_t)(end - s) < n) n = (size_t)(end - s);
    if (n > 1) {
        cp &= n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07;
        for (size_t i = 1; i < n; i++) cp = (cp << 6) | (s[i] & 0x3f);
    }
    *p = s + n;
    return cp;
}

typedef struct {
    const unsigned char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int hex4(cursor *c, uint32_t *out) {
    uint32_t v = 0;
    if (c->end - c->p < 4) return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char h = *c->p++;
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (uint32_t)(h - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* A string at c->p (its opening quote); decoded characters go to `s`, and
 * the first up to `keycap` bytes of its ASCII form to `key` (for matching
 * member names). */
static int parse_string(cursor *c, sink *s, char *key, size_t keycap, size_t *keylen) {
    size_t kl = 0;
    int key_ok = 1;
    if (c->p >= c->end || *c->p != '"') return -1;
    c->p++;
    for (;;) {
        uint32_t cp;
        if (c->p >= c->end) return -1;
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            break;
        }
        if (b < 0x20) return -1; /* raw control characters are not JSON */
        if (b == '\\') {
            c->p++;
            if (c->p >= c->end) return -1;
            switch (*c->p++) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(c, &cp)) return -1;
                if (cp >= 0xd800 && cp < 0xdc00 && c->end - c->p >= 6 && c->p[0] == '\\' &&
                    c->p[1] == 'u') {
                    cursor save = *c;
                    uint32_t lo;
                    c->p += 2;
                    if (!hex4(c, &lo) && lo >= 0xdc00 && lo < 0xe000)
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    else
                        *c = save; /* a lone surrogate: one character */
                }
                break;
            default: return -1;
            }
        } else {
            cp = utf8_next(&c->p, c->end);
        }
        put(s, cp);
        if (key) {
            if (cp < 0x80 && kl < keycap) key[kl++] = (char)cp;
            else key_ok = 0;
        }
    }
    if (keylen) *keylen = key_ok ? kl : (size_t)-1;
    return 0;
}

static int parse_digits(cursor *c) {
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    return c->p > start ? 0 : -1;
}

static int parse_number(cursor *c) {
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p < c->end && *c->p == '0') c->p++;
    else if (parse_digits(c)) return -1;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (parse_digits(c)) return -1;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (parse_digits(c)) return -1;
    }
    return 0;
}

static int parse_literal(cursor *c, const char *word) {
    for (; *word; word++, c->p++)
        if (c->p >= c->end || *c->p != (unsigned char)*word) return -1;
    return 0;
}

/* Where a top-level object's `reply` and `answer` string values start. */
typedef struct {
    const unsigned char *reply, *answer;
} fields;

static int is_key(const char *key, size_t len, const char *want) {
    size_t i = 0;
    for (; i < len; i++)
        if (want[i] != key[i]) return 0;
    return want[i] == 0;
}

/* Any JSON value; string values go to `s`. At depth 0, records the
 * positions of `reply`/`answer` string members in `f` (if not NULL). */
static int parse_value(cursor *c, sink *s, int depth, fields *f) {
    if (depth > MAX_DEPTH) return -1;
    skip_ws(c);
    if (c->p >= c->end) return -1;
    switch (*c->p) {
    case '"': return parse_string(c, s, 0, 0, 0);
    case '{': {
        sink none = {0};
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return 0;
        }
        for (;;) {
            char key[8];
            size_t keylen;
            skip_ws(c);
            if (parse_string(c, &none, key, sizeof key, &keylen)) return -1;
            skip_ws(c);
            if (c->p >= c->end || *c->p++ != ':') return -1;
            skip_ws(c);
            if (f && depth == 0 && c->p < c->end && *c->p == '"') {
                if (is_key(key, keylen, "reply") && !f->reply) f->reply = c->p;
                if (is_key(key, keylen, "answer") && !f->answer) f->answer = c->p;
            }
            if (parse_value(c, s, depth + 1, f)) return -1;
            skip_ws(c);
            if (c->p >= c->end) return -1;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p++ == '}') return 0;
            return -1;
        }
    }
    case '[':
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return 0;
        }
        for (;;) {
            if (parse_value(c, s, depth + 1, f)) return -1;
            skip_ws(c);
            if (c->p >= c->end) return -1;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p++ == ']') return 0;
            return -1;
        }
    case 't': return parse_literal(c, "true");
    case 'f': return parse_literal(c, "false");
    case 'n': return parse_literal(c, "null");
    default: return parse_number(c);
    }
}

void length_check(const char *candidate, size_t len, length_report *out) {
    const unsigned char *start = (const unsigned char *)candidate, *end = start + len;
    cursor c = {start, end};
    sink s = {0};
    fields f = {0};
    int valid = parse_value(&c, &s, 0, &f) == 0;
    skip_ws(&c);
    valid = valid && c.p == end;

    s = (sink){.counting = 1};
    cursor at = {start, end};
    skip_ws(&at);
    if (!valid) {
        out->source = 0;
        for (const unsigned char *p = start; p < end;) put(&s, utf8_next(&p, end));
    } else if (f.reply || f.answer) {
        out->source = f.reply ? 1 : 2;
        cursor field = {f.reply ? f.reply : f.answer, end};
        parse_string(&field, &s, 0, 0, 0);
    } else if (*at.p == '"') {
        out->source = 3;
        parse_string(&at, &s, 0, 0, 0);
    } else {
        out->source = 4;
        parse_value(&at, &s, 0, 0);
    }
    out->chars = s.chars;
    out->controls = s.controls;
    out->first_control = s.first;
    out->first_control_at = s.first_at;
}

int length_parse_max_chars(const char *json, size_t len, uint32_t *out) {
    const char *p = json, *end = json + len;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > 0xffffffffu) return -1;
    }
    if (!digits) return -1;
    if (p < end && *p == '.') { /* 800.0 is fine, 800.5 is not */
        for (p++; p < end && *p == '0'; p++) {}
    }
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p != end || v == 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

/* --- reasons, formatted without stdio ------------------------------------ */

typedef struct {
    char *p;
} writer;

static void w_str(writer *w, const char *s) {
    while (*s) *w->p++ = *s++;
}

static void w_u64(writer *w, uint64_t v) {
    char tmp[21];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *w->p++ = tmp[--n];
}

static void w_codepoint(writer *w, uint32_t cp) {
    static const char hex[] = "0123456789ABCDEF";
    w_str(w, "U+");
    for (int shift = cp > 0xffff ? 20 : 12; shift >= 0; shift -= 4) *w->p++ = hex[(cp >> shift) & 15];
}

static const char *source_label(int source) {
    switch (source) {
    case 1: return "the `reply` field";
    case 2: return "the `answer` field";
    case 3: return "the string";
    case 4: return "the string values";
    default: return "the text";
    }
}

size_t length_reasons(const length_report *r, uint32_t max_chars, char *buf) {
    writer w = {buf};
    size_t n = 0;
    if (r->chars > max_chars) {
        w_str(&w, "too long: ");
        w_str(&w, source_label(r->source));
        w_str(&w, " has ");
        w_u64(&w, r->chars);
        w_str(&w, " characters, over the limit of ");
        w_u64(&w, max_chars);
        w_str(&w, " (setting `max-chars`); shorten it");
        *w.p++ = 0;
        n++;
    }
    if (r->controls) {
        w_str(&w, "control characters: ");
        w_str(&w, source_label(r->source));
        w_str(&w, " has ");
        w_u64(&w, r->controls);
        w_str(&w, " (the first, ");
        w_codepoint(&w, r->first_control);
        w_str(&w, ", at character ");
        w_u64(&w, r->first_control_at);
        w_str(&w, "); remove them");
        *w.p++ = 0;
        n++;
    }
    return n;
}

void length_summary(const length_report *r, uint32_t max_chars, char *buf) {
    writer w = {buf};
    w_str(&w, source_label(r->source));
    w_str(&w, ": ");
    w_u64(&w, r->chars);
    w_str(&w, " characters (max-chars ");
    w_u64(&w, max_chars);
    w_str(&w, "), ");
    w_u64(&w, r->controls);
    w_str(&w, " control characters");
    *w.p = 0;
}
