"""Tone checks for judge-tone: plain Python, no WIT bindings.

`check(candidate_json, settings)` returns the list of reasons a reply is
rude, blaming or over-promising (empty means acceptable). Everything here is
standard library only, so it runs both inside the component and under
`python3 -m unittest` on the build machine.
"""

import json
import re

# Each check: name -> (advice, [regex, ...]). The regexes are written in
# lower case and matched against the lower-cased reply; reasons quote the
# matched words as the reply wrote them.
CHECKS = {
    "over-promising": (
        "do not promise outcomes the team cannot ensure",
        [
            r"\bguarantee(?:s|d)?\b",
            r"\b100\s?%",
            r"\bpromise(?:s)? (?:you|that)\b",
            r"\bwill never happen again\b",
            r"\b(?:always|definitely) (?:work|be fixed|resolved?)\b",
            r"\brest assured\b",
            r"\bno risk\b",
        ],
    ),
    "blame": (
        "do not blame the customer",
        [
            r"\byour (?:own )?fault\b",
            r"\byou should have\b",
            r"\byou (?:failed|forgot|neglected) to\b",
            r"\byou (?:did not|didn't) (?:read|follow|bother)\b",
            r"\buser error\b",
            r"\bas (?:i|we) (?:already|clearly) (?:said|told you|explained)\b",
        ],
    ),
    "condescending": (
        "drop condescending or dismissive wording",
        [
            r"\bobviously\b",
            r"\bclearly you\b",
            r"\bcalm down\b",
            r"\b(?:that's|that is|it's|it is) not our problem\b",
            r"\b(?:stupid|dumb|idiotic|ridiculous|pathetic)\b",
            r"\bany (?:fool|idiot) (?:can|could|knows)\b",
        ],
    ),
}

# An all-caps word of at least this many letters is shouted, unless it is a
# common acronym; shorter all-caps words are usually acronyms (API, URL, SSO).
SHOUT_WORD_MIN = 4
# A reply shouts if it has at least this many shouted words (one emphatic
# word is tolerated)...
SHOUT_WORDS_MIN = 2
# ...or at least this many letters of which this share is upper case.
SHOUT_LETTERS_MIN = 20
SHOUT_UPPER_SHARE = 0.6
ACRONYMS = frozenset(
    "ASAP FAQS GDPR HIPAA HTML HTTP HTTPS JSON OAUTH SAML UUID YAML".split()
)

ALL_CHECKS = tuple(CHECKS) + ("shouting",)

# One alternation per check: a single pass over the text per check.
_COMPILED = {
    name: (advice, re.compile("|".join("(?:%s)" % rx for rx in patterns)))
    for name, (advice, patterns) in CHECKS.items()
}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


class InvalidInput(Exception):
    """The candidate or a setting is not in a shape the judge accepts."""


class Settings:
    """The judge's settings, parsed from the manifest's JSON values."""

    def __init__(self, banned_phrases=(), checks=ALL_CHECKS):
        self.banned_phrases = list(banned_phrases)
        self.checks = tuple(checks)

    @classmethod
    def from_lookup(cls, get):
        """Reads settings through `get(key) -> JSON text or None` (the
        host's `config.get`)."""
        banned = _json_setting(get, "banned-phrases", [])
        if not isinstance(banned, list) or not all(isinstance(p, str) for p in banned):
            raise InvalidInput("setting `banned-phrases` must be a JSON list of strings")
        checks = _json_setting(get, "checks", list(ALL_CHECKS))
        if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
            raise InvalidInput("setting `checks` must be a JSON list of strings")
        unknown = [c for c in checks if c not in ALL_CHECKS]
        if unknown:
            raise InvalidInput(
                "setting `checks` has unknown check(s) %s; known: %s"
                % (", ".join(unknown), ", ".join(ALL_CHECKS))
            )
        return cls([p for p in banned if p.strip()], checks)


def _json_setting(get, key, default):
    raw = get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError as e:
        raise InvalidInput("setting `%s` is not JSON: %s" % (key, e))


def reply_text(candidate):
    """The reply inside a candidate: its `reply` or `answer` string field if
    it is a JSON object, the string itself if it is a JSON string, or the raw
    text if it is not JSON at all."""
    try:
        value = json.loads(candidate)
    except ValueError:
        return candidate
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("reply", "answer"):
            if isinstance(value.get(key), str):
                return value[key]
    raise InvalidInput(
        "expected a JSON string or an object with a `reply` or `answer` string field"
    )


def find_shouting(text):
    """The shouted words in `text` (empty if it is not shouting)."""
    letters = sum(map(str.isalpha, text))
    upper_share = sum(map(str.isupper, text)) / max(letters, 1)
    words = _WORD.findall(text)
    if letters >= SHOUT_LETTERS_MIN and upper_share >= SHOUT_UPPER_SHARE:
        return [w for w in words if w.isupper()]
    shouted = [
        w for w in words
        if len(w) >= SHOUT_WORD_MIN and w.isupper() and w not in ACRONYMS
    ]
    if len(shouted) < SHOUT_WORDS_MIN:
        shouted = []
    if re.search(r"[!?]{3,}", text):
        shouted.append("!!!")
    return shouted


def check_text(text, settings=None):
    """Reasons to reject `text`, in a stable order; empty means accept."""
    settings = settings or Settings()
    reasons = []
    lowered = text.lower()
    # Lower-casing keeps offsets except for a few characters (e.g. "İ").
    same_offsets = len(lowered) == len(text)
    for name in CHECKS:
        if name not in settings.checks:
            continue
        advice, rx = _COMPILED[name]
        found = []
        for m in rx.finditer(lowered):
            quote = text[m.start():m.end()] if same_offsets else m.group(0)
            if quote.lower() not in (f.lower() for f in found):
                found.append(quote)
        if found:
            reasons.append("%s: %s (%s)" % (name, _quote_list(found), advice))
    if "shouting" in settings.checks:
        shouted = find_shouting(text)
        if shouted:
            reasons.append(
                "shouting: %s (write in sentence case, without runs of capitals or !!!)"
                % _quote_list(_dedupe(shouted)[:5])
            )
    hits = [p for p in settings.banned_phrases if p.lower() in lowered]
    if hits:
        reasons.append(
            "banned phrase: %s (listed in the `banned-phrases` setting)" % _quote_list(hits)
        )
    return reasons


def check(candidate, settings=None):
    """Reasons to reject the candidate (JSON text); empty means accept."""
    return check_text(reply_text(candidate), settings)


def _dedupe(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _quote_list(items):
    return ", ".join('"%s"' % i for i in items)
