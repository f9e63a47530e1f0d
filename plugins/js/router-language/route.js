// Routing logic for router-language: plain JavaScript, no WIT imports, so
// it runs the same inside the component (StarlingMonkey or QuickJS) and
// under `node --test` on the build machine.
//
// Features: the ticket's language (by script, then by common words and
// letters for Latin-script languages) and its urgency (keywords in several
// languages). The branch is picked among the manifest's candidates only.

/** Thrown for input or settings the router cannot use (→ invalid-input). */
export class InvalidInput extends Error {}

// Scripts that identify a language on their own: [code, [from, to], ...].
const SCRIPTS = [
  ["ja", [0x3040, 0x30ff]], // hiragana, katakana (checked before Han)
  ["ko", [0xac00, 0xd7af], [0x1100, 0x11ff]],
  ["zh", [0x4e00, 0x9fff], [0x3400, 0x4dbf]],
  ["ru", [0x0400, 0x04ff]],
  ["el", [0x0370, 0x03ff]],
  ["he", [0x0590, 0x05ff]],
  ["ar", [0x0600, 0x06ff], [0x0750, 0x077f]],
  ["hi", [0x0900, 0x097f]],
  ["th", [0x0e00, 0x0e7f]],
];

// Common words of Latin-script languages, and letters that are strong hints.
const WORDS = {
  en: "the and is are to my i it not of for you with this please can have was on in what how why help thanks",
  es: "el la los las de que y es está no mi por para con una un se hola gracias ayuda cuenta pero como qué",
  fr: "le la les de des et est je ne pas mon ma mes pour avec une un bonjour merci compte vous nous mais",
  de: "der die das und ist ich nicht mein meine mit für ein eine zu bitte danke konto sie es auf kann",
  pt: "o a os as de que e é não meu minha para com um uma olá obrigado obrigada conta você mas",
  it: "il lo la gli di che e è non mio mia per con un una ciao grazie sono sul della questo",
  nl: "de het een en is ik niet mijn met voor van dat alstublieft bedankt graag kan",
};
const LETTERS = { es: "ñ¿¡", pt: "ãõ", de: "ßäöü", fr: "çêœù", it: "ì", nl: "ĳ" };
const STOPWORDS = Object.fromEntries(
  Object.entries(WORDS).map(([lang, words]) => [lang, new Set(words.split(" "))]),
);

/** Names a branch label may use for a language, besides its code. */
export const LANGUAGE_NAMES = {
  en: ["english"],
  es: ["spanish", "espanol", "español"],
  fr: ["french", "francais", "français"],
  de: ["german", "deutsch"],
  pt: ["portuguese", "portugues", "português"],
  it: ["italian", "italiano"],
  nl: ["dutch", "nederlands"],
  ja: ["japanese"],
  ko: ["korean"],
  zh: ["chinese"],
  ru: ["russian", "cyrillic"],
  el: ["greek"],
  he: ["hebrew"],
  ar: ["arabic"],
  hi: ["hindi"],
  th: ["thai"],
};

// Urgency cues: phrases matched on whole words (any language), and cues
// matched as substrings for scripts written without spaces.
const URGENT_PHRASES = [
  "urgent", "urgently", "asap", "as soon as possible", "emergency", "immediately",
  "right now", "critical", "outage", "is down", "are down", "went down", "sev1", "sev 1",
  "p1", "data loss", "security breach", "hacked", "production is",
  "urgente", "inmediatamente", "caído", "caida", "urgence", "immédiatement", "panne",
  "dringend", "sofort", "notfall", "ausfall", "imediatamente", "subito", "срочно",
];
const URGENT_SUBSTRINGS = ["紧急", "急", "至急", "緊急", "긴급"];
/** Branch labels that mean "urgent", in order of preference. */
export const URGENT_LABELS = ["urgent", "priority", "escalate", "escalation", "critical", "p1"];
/** Branch labels that mean "nothing special", in order of preference. */
export const DEFAULT_LABELS = ["default", "general", "other", "fallback", "standard", "normal"];

/** The text of a task input (parsed JSON): a string, or an object's
 * subject/title/body/text/message strings joined. */
export function taskText(input) {
  if (typeof input === "string") return input;
  if (input && typeof input === "object" && !Array.isArray(input)) {
    const parts = ["subject", "title", "body", "text", "message"]
      .map((k) => input[k])
      .filter((v) => typeof v === "string");
    if (parts.length) return parts.join(". ");
  }
  throw new InvalidInput(
    "expected a JSON string or an object with `subject`/`title`/`body`/`text`/`message` strings",
  );
}

function words(text) {
  return text.toLowerCase().match(/[a-z0-9à-öø-ÿœßĳ\u0400-\u04ff]+/g) || [];
}

/** Detects the language: `{ lang, confidence, cue }`, `lang` null if unknown. */
export function detectLanguage(text) {
  const counts = new Map();
  // Most tickets are Latin script: skip the per-character scan for them.
  const scan = /[^\u0000-\u036f]/.test(text) ? text : "";
  for (const ch of scan) {
    const cp = ch.codePointAt(0);
    if (cp < 0x370) continue;
    for (const [lang, ...ranges] of SCRIPTS) {
      if (ranges.some(([lo, hi]) => cp >= lo && cp <= hi)) {
        counts.set(lang, (counts.get(lang) || 0) + 1);
        break;
      }
    }
  }
  // Japanese mixes kana with Han characters: any kana makes it Japanese.
  if (counts.get("ja")) counts.set("ja", counts.get("ja") + (counts.get("zh") || 0));
  let best = null;
  for (const [lang, n] of counts) if (!best || n > best[1]) best = [lang, n];
  if (best && best[1] >= 2) {
    return { lang: best[0], confidence: 0.95, cue: `${best[1]} characters of its script` };
  }

  const toks = words(text);
  const lower = text.toLowerCase();
  const scores = Object.keys(STOPWORDS).map((lang) => {
    let hits = 0;
    for (const t of toks) if (STOPWORDS[lang].has(t)) hits += 1;
    let letters = 0;
    for (const ch of LETTERS[lang] || "") if (lower.includes(ch)) letters += 1;
    return { lang, hits, letters, score: hits + 2 * letters };
  });
  scores.sort((a, b) => b.score - a.score);
  const [top, second] = scores;
  if (top.score < 2) return { lang: null, confidence: 0, cue: "too few common words" };
  const margin = (top.score - second.score) / top.score;
  return {
    lang: top.lang,
    confidence: Math.round(Math.min(0.95, 0.5 + 0.45 * margin) * 100) / 100,
    cue: `${top.hits} common ${top.lang} word(s)` + (top.letters ? `, ${top.letters} letter hint(s)` : ""),
  };
}

/** The urgency cues found in `text` (lower-cased, de-duplicated). */
export function urgencyCues(text, extra = []) {
  const padded = ` ${words(text).join(" ")} `;
  const lower = text.toLowerCase();
  const cues = [];
  for (const phrase of URGENT_PHRASES.concat(extra.map((k) => k.toLowerCase()))) {
    if (padded.includes(` ${phrase} `) && !cues.includes(phrase)) cues.push(phrase);
  }
  for (const s of URGENT_SUBSTRINGS) {
    if (lower.includes(s) && !cues.some((c) => c.includes(s) || s.includes(c))) cues.push(s);
  }
  if (/!{3,}/.test(text)) cues.push("!!!");
  return cues;
}

/** Parses the settings, given `get(key) -> JSON text | undefined` and the
 * candidates (labels named in settings must be among them). */
export function parseSettings(get, candidates) {
  const json = (key, fallback) => {
    const raw = get(key);
    if (raw === undefined || raw === null) return fallback;
    try {
      return JSON.parse(raw);
    } catch (e) {
      throw new InvalidInput(`setting \`${key}\` is not JSON: ${e.message}`);
    }
  };
  const routes = json("routes", {});
  if (!routes || typeof routes !== "object" || Array.isArray(routes)) {
    throw new InvalidInput("setting `routes` must be an object of feature → branch label");
  }
  for (const [feature, label] of Object.entries(routes)) {
    if (!candidates.includes(label)) {
      throw new InvalidInput(
        `setting \`routes\` sends \`${feature}\` to \`${label}\`, which is not a branch (${candidates.join(", ")})`,
      );
    }
  }
  const dflt = json("default", null);
  if (dflt !== null && !candidates.includes(dflt)) {
    throw new InvalidInput(`setting \`default\` is \`${dflt}\`, which is not a branch (${candidates.join(", ")})`);
  }
  const extra = json("urgent-keywords", []);
  if (!Array.isArray(extra) || !extra.every((k) => typeof k === "string")) {
    throw new InvalidInput("setting `urgent-keywords` must be a list of strings");
  }
  return { routes, default: dflt, urgentKeywords: extra };
}

function labelTokens(label) {
  return label.toLowerCase().split(/[-_ ./]+/);
}

/** The candidate for a language, by `routes` or by its label. */
function languageLabel(lang, candidates, routes) {
  if (routes[lang]) return routes[lang];
  const names = [lang].concat(LANGUAGE_NAMES[lang] || []);
  return candidates.find((c) => labelTokens(c).some((t) => names.includes(t)));
}

function urgentLabel(candidates, routes) {
  if (routes.urgent) return routes.urgent;
  for (const name of URGENT_LABELS) {
    const found = candidates.find((c) => labelTokens(c).includes(name));
    if (found) return found;
  }
  return undefined;
}

function defaultLabel(candidates, settings) {
  if (settings.default) return settings.default;
  if (settings.routes.default) return settings.routes.default;
  for (const name of DEFAULT_LABELS) {
    const found = candidates.find((c) => c.toLowerCase() === name);
    if (found) return found;
  }
  return candidates[0];
}

/** Picks a branch: `{ target, confidence, reason }`, target among
 * `candidates`. `input` is the task's parsed JSON input. */
export function route(input, candidates, settings = { routes: {}, default: null, urgentKeywords: [] }) {
  if (!candidates.length) throw new InvalidInput("no candidate branches to choose from");
  const text = taskText(input);
  const lang = detectLanguage(text);
  const cues = urgencyCues(text, settings.urgentKeywords);
  const langPart = lang.lang ? `language ${lang.lang} (${lang.cue})` : "language unknown";

  let decision;
  const urgent = cues.length ? urgentLabel(candidates, settings.routes) : undefined;
  const byLang = lang.lang ? languageLabel(lang.lang, candidates, settings.routes) : undefined;
  if (urgent) {
    decision = {
      target: urgent,
      confidence: Math.min(0.95, 0.6 + 0.15 * (cues.length - 1)),
      reason: `urgent: ${cues.map((c) => `"${c}"`).join(", ")}; ${langPart}`,
    };
  } else if (byLang) {
    decision = { target: byLang, confidence: lang.confidence, reason: langPart };
  } else {
    decision = {
      target: defaultLabel(candidates, settings),
      confidence: 0.3,
      reason: `no branch for ${lang.lang ? `language ${lang.lang}` : "an unknown language"}` +
        (cues.length ? ` and no urgent branch (cues: ${cues.join(", ")})` : "") + "; default branch",
    };
  }
  if (!candidates.includes(decision.target)) {
    throw new Error(`bug: picked ${decision.target}, not among ${candidates.join(", ")}`);
  }
  return decision;
}
