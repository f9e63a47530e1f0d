"""Native unit tests of the Python kit (no componentize-py, no host):
`python3 -m unittest test_switchyard_node` from this folder
(plugins/python/judge-tone/build.sh runs them)."""

import unittest

import switchyard_node as kit


class Native(unittest.TestCase):
    def tearDown(self):
        kit.NATIVE_SETTINGS.clear()

    def test_outside_a_component(self):
        self.assertFalse(kit.IN_COMPONENT)

    def test_decorators_return_the_function(self):
        @kit.judge("t")
        def check(task, candidate):
            return None if candidate else "empty"

        self.assertEqual(check(kit.Task("{}"), ""), "empty")

    def test_what_a_judge_may_return(self):
        v = kit._as_verdict
        self.assertEqual(v(None), kit.accept())
        self.assertEqual(v([]), kit.accept())
        self.assertEqual(v("too long"), kit.reject("too long"))
        self.assertEqual(v(["a", "b"]), kit.reject("a", "b"))
        self.assertEqual(kit.reject(["a", "b"]), kit.reject("a", "b"))
        self.assertEqual(v(kit.repair({"reply": "hi"})).candidate, '{"reply": "hi"}')
        self.assertEqual(kit.repair('"as is"').candidate, '"as is"')
        with self.assertRaises(TypeError):
            v(3)

    def test_what_a_router_may_return(self):
        self.assertEqual(kit._as_decision("a"), ("a", 1.0, ""))
        self.assertEqual(kit._as_decision(("b", 0.5, "why")), ("b", 0.5, "why"))
        with self.assertRaises(TypeError):
            kit._as_decision(("b", 0.5))

    def test_task_input_is_parsed_once_and_checked(self):
        task = kit.Task('{"body": "hi"}', meta_text="[1]")
        self.assertEqual(task.input["body"], "hi")
        self.assertEqual(task.meta, {})
        with self.assertRaisesRegex(kit.InvalidInput, "task input is not JSON"):
            kit.Task("not json").input

    def test_settings(self):
        kit.NATIVE_SETTINGS.update({"banned": '["x"]', "n": "3", "bad": "{"})
        self.assertEqual(kit.setting("banned", ["TODO"]), ["x"])
        self.assertEqual(kit.setting("missing", ["TODO"]), ["TODO"])
        self.assertEqual(kit.setting("n", 1.5), 3)
        self.assertEqual(kit.raw_setting("n"), "3")
        with self.assertRaisesRegex(kit.InvalidInput, "setting `n` must be a list, not a number"):
            kit.setting("n", [])
        with self.assertRaisesRegex(kit.InvalidInput, "setting `bad` is not JSON"):
            kit.setting("bad")
        del kit.NATIVE_SETTINGS["bad"]
        self.assertEqual(kit.settings(), {"banned": ["x"], "n": 3})

    def test_models_are_unavailable_natively(self):
        for call in (
            lambda: kit.complete("small", "hi"),
            lambda: kit.stream("small", "hi"),
            lambda: kit.embed("embedder", ["hi"]),
        ):
            with self.assertRaises(kit.ModelError) as e:
                call()
            self.assertEqual(e.exception.kind, "unavailable")

    def test_verdicts_carry_scores(self):
        v = kit.reject("too rude", score=0.2, criteria={"tone": 0.1})
        self.assertEqual((v.kind, v.reasons, v.score, v.criteria), ("reject", ["too rude"], 0.2, {"tone": 0.1}))
        self.assertEqual(kit.accept(score=1).score, 1.0)
        self.assertIsNone(kit.accept().score)
        self.assertNotEqual(kit.accept(), kit.accept(score=0.5))
        self.assertEqual(repr(kit.repair("x", score=0.5)), "repair('x', score=0.5)")

    def test_window_check_registers_once(self):
        self.assertEqual(kit._WINDOW_CHECK, [])
        try:

            @kit.check_window
            def redact(task, window):
                return kit.repair(window.text.upper()) if window.last else None

            self.assertEqual(redact(kit.Task("{}"), kit.Window("ok", last=True)), kit.repair("OK"))
            self.assertIsNone(redact(kit.Task("{}"), kit.Window("ok")))
            with self.assertRaises(TypeError):
                kit.check_window(redact)
        finally:
            kit._WINDOW_CHECK.clear()

    def test_needs_are_checked_when_declared(self):
        kit.worker("w", needs={"models": ["chat"], "model_calls": 1, "settings": ["model"]})
        for bad in ({"model": ["chat"]}, {"model_calls": -1}, {"models": "chat"}):
            with self.assertRaises(TypeError):
                kit.judge("j", needs=bad)

    def test_stream_reply_takes_a_stream(self):
        with self.assertRaises(TypeError):
            kit.stream_reply("not a stream", field="reply")
        s = kit.Stream(resource=None)
        r = kit.stream_reply(s, field="reply", base={"model": "small"})
        self.assertEqual((r.body, r.field, r.base), (s, "reply", {"model": "small"}))


if __name__ == "__main__":
    unittest.main()
