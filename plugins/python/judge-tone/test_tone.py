"""Unit tests of judge-tone's logic, natively: `python3 -m unittest` from
this folder (no componentize-py or WIT bindings needed)."""

import json
import unittest

import tone


def settings(**values):
    """Settings as the host passes them: JSON text per key."""
    encoded = {k.replace("_", "-"): json.dumps(v) for k, v in values.items()}
    return tone.Settings.from_lookup(encoded.get)


class ReplyText(unittest.TestCase):
    def test_reply_field(self):
        self.assertEqual(tone.reply_text('{"reply": "Hi", "model": "small"}'), "Hi")

    def test_answer_field(self):
        self.assertEqual(tone.reply_text('{"answer": "Hello"}'), "Hello")

    def test_json_string(self):
        self.assertEqual(tone.reply_text('"Hello there"'), "Hello there")

    def test_plain_text(self):
        self.assertEqual(tone.reply_text("Hello, not JSON"), "Hello, not JSON")

    def test_object_without_text_is_invalid(self):
        with self.assertRaises(tone.InvalidInput):
            tone.reply_text('{"reply": 3}')
        with self.assertRaises(tone.InvalidInput):
            tone.reply_text("[1, 2]")


class Checks(unittest.TestCase):
    def test_polite_reply_accepted(self):
        reply = json.dumps({"reply": "Thanks for reporting this. We reset your SSO session "
                                     "and the API key; please try again and tell us if it fails."})
        self.assertEqual(tone.check(reply), [])

    def test_over_promising(self):
        reasons = tone.check('"We guarantee this will never happen again."')
        self.assertEqual(len(reasons), 1)
        self.assertTrue(reasons[0].startswith("over-promising:"))
        self.assertIn('"guarantee"', reasons[0])
        self.assertIn('"will never happen again"', reasons[0])

    def test_blame(self):
        reasons = tone.check('{"answer": "This is your fault; you should have read the manual."}')
        self.assertEqual(len(reasons), 1)
        self.assertTrue(reasons[0].startswith("blame:"))

    def test_condescending(self):
        reasons = tone.check('"Obviously the button is on the left."')
        self.assertEqual([r.split(":")[0] for r in reasons], ["condescending"])
        self.assertIn('"Obviously"', reasons[0])  # quoted as written

    def test_several_reasons_in_order(self):
        reasons = tone.check('"Obviously it is your fault, but I guarantee a fix."')
        self.assertEqual([r.split(":")[0] for r in reasons],
                         ["over-promising", "blame", "condescending"])

    def test_shouting_words(self):
        reasons = tone.check('"Please STOP SENDING tickets about this."')
        self.assertEqual(len(reasons), 1)
        self.assertIn('"STOP", "SENDING"', reasons[0])

    def test_shouting_whole_reply(self):
        self.assertTrue(tone.check('"I HAVE TOLD YOU TWICE ALREADY"'))

    def test_exclamations(self):
        self.assertTrue(tone.check('"Done!!!"'))

    def test_acronyms_and_one_emphatic_word_are_not_shouting(self):
        self.assertEqual(tone.check('"Use the API over HTTPS with JSON, NOT the CSV export."'), [])

    def test_banned_phrases_setting(self):
        s = settings(banned_phrases=["per my last email", "unfortunately"])
        reasons = tone.check('"Per my last email, the fix is live."', s)
        self.assertEqual(reasons, ['banned phrase: "per my last email" '
                                   '(listed in the `banned-phrases` setting)'])

    def test_checks_setting_limits_checks(self):
        s = settings(checks=["blame"])
        self.assertEqual(tone.check('"Obviously we guarantee it!!!"', s), [])
        self.assertTrue(tone.check('"It was user error."', s))

    def test_bad_settings(self):
        with self.assertRaises(tone.InvalidInput):
            settings(banned_phrases="not a list")
        with self.assertRaises(tone.InvalidInput):
            settings(checks=["politeness"])
        with self.assertRaises(tone.InvalidInput):
            tone.Settings.from_lookup({"checks": "not json"}.get)


if __name__ == "__main__":
    unittest.main()
