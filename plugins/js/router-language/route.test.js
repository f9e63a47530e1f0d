// Unit tests of the routing logic, natively: `node --test` from this folder
// (no componentize-js or WIT bindings needed).
import assert from "node:assert/strict";
import { test } from "node:test";

import { InvalidInput, detectLanguage, parseSettings, route, taskText, urgencyCues } from "./route.js";

const settings = (values, candidates) =>
  parseSettings((k) => (k in values ? JSON.stringify(values[k]) : undefined), candidates);

test("task text from a string or an object", () => {
  assert.equal(taskText("hola"), "hola");
  assert.equal(taskText({ subject: "Login", body: "It fails" }), "Login. It fails");
  assert.throws(() => taskText({ id: 3 }), InvalidInput);
  assert.throws(() => taskText([1]), InvalidInput);
});

test("languages by common words", () => {
  assert.equal(detectLanguage("Hola, no puedo entrar en mi cuenta desde ayer, ¿me ayudan?").lang, "es");
  assert.equal(detectLanguage("Bonjour, je ne peux pas accéder à mon compte depuis hier.").lang, "fr");
  assert.equal(detectLanguage("Hallo, ich kann mich seit gestern nicht in mein Konto einloggen.").lang, "de");
  assert.equal(detectLanguage("Olá, não consigo acessar minha conta desde ontem, você pode ajudar?").lang, "pt");
  assert.equal(detectLanguage("Ciao, non riesco ad accedere al mio account da ieri, grazie.").lang, "it");
  assert.equal(detectLanguage("Hi, I cannot log in to my account since yesterday. Please help.").lang, "en");
  assert.equal(detectLanguage("ok").lang, null);
});

test("languages by script", () => {
  assert.equal(detectLanguage("Не могу войти в аккаунт").lang, "ru");
  assert.equal(detectLanguage("ログインできません。アカウントを確認してください").lang, "ja");
  assert.equal(detectLanguage("我无法登录我的账户").lang, "zh");
  assert.equal(detectLanguage("계정에 로그인할 수 없습니다").lang, "ko");
});

test("urgency cues in several languages", () => {
  assert.deepEqual(urgencyCues("Production is down, fix ASAP!!!"), ["asap", "is down", "production is", "!!!"]);
  assert.deepEqual(urgencyCues("Es urgente, el servicio está caído"), ["urgente", "caído"]);
  assert.deepEqual(urgencyCues("紧急：服务器无法访问"), ["紧急"]);
  assert.deepEqual(urgencyCues("I downloaded the invoice"), []);
  assert.deepEqual(urgencyCues("the pager is ringing", ["pager"]), ["pager"]);
});

test("urgent beats language when an urgent branch exists", () => {
  const d = route("Our production is down, urgent!", ["en", "es", "urgent"]);
  assert.equal(d.target, "urgent");
  assert.match(d.reason, /^urgent: /);
});

test("language branch by code or name", () => {
  assert.equal(route("Hola, no puedo entrar en mi cuenta", ["english", "spanish"]).target, "spanish");
  assert.equal(route("Bonjour, je ne peux pas payer ma facture", ["desk-en", "desk-fr"]).target, "desk-fr");
  // Urgent but no urgent branch: the language still decides.
  assert.equal(route("Es urgente, no puedo pagar mi factura", ["en", "es"]).target, "es");
});

test("falls back to the default branch, always among the candidates", () => {
  assert.equal(route("Не могу войти", ["en", "general"]).target, "general");
  assert.equal(route("xyz", ["a", "b"]).target, "a");
  const s = settings({ default: "b" }, ["a", "b"]);
  const d = route("xyz", ["a", "b"], s);
  assert.equal(d.target, "b");
  assert.ok(d.confidence < 0.5);
});

test("routes setting maps features to branches", () => {
  const candidates = ["latam", "emea", "oncall"];
  const s = settings({ routes: { es: "latam", pt: "latam", urgent: "oncall" }, default: "emea" }, candidates);
  assert.equal(route("Olá, não consigo acessar minha conta", candidates, s).target, "latam");
  assert.equal(route("Our site is down!!!", candidates, s).target, "oncall");
  assert.equal(route("Hello, where is my invoice?", candidates, s).target, "emea");
});

test("bad settings and no candidates are invalid input", () => {
  assert.throws(() => settings({ routes: { es: "nowhere" } }, ["en"]), InvalidInput);
  assert.throws(() => settings({ default: "nowhere" }, ["en"]), InvalidInput);
  assert.throws(() => settings({ "urgent-keywords": "pager" }, ["en"]), InvalidInput);
  assert.throws(() => parseSettings(() => "{not json", ["en"]), InvalidInput);
  assert.throws(() => route("hola", []), InvalidInput);
});
