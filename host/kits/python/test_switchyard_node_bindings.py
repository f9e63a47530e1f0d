"""Unit tests of the Python kit's binding plumbing, against the real
bindings componentize-py generates (no host: the imports are replaced by
fakes). From this folder, with the worker world's bindings in DIR
(`componentize-py -d wit/node@0.2.0 -w worker-node bindings DIR`):

    PYTHONPATH=DIR python3 -m unittest test_switchyard_node_bindings

(plugins/python/judge-tone/build.sh runs them.) Skipped when the bindings
are not on the path."""

import sys
import unittest

try:
    from componentize_py_types import Err, Ok
    from wit_world.exports import worker as W
    from wit_world.imports import models as M
    from wit_world.imports import types as T
except ImportError:  # no bindings on the path
    T = None

if T is not None:
    import switchyard_node as kit
    from switchyard_node import check_window, judge, reject, repair

    @judge("j", summary="s", needs={"settings": ["banned"]})
    def check(task, candidate):
        return reject("bad", score=0.2, criteria={"tone": 0.1}) if "bad" in candidate else None

    @check_window
    def window(task, window):
        return repair(window.text.replace("@", "(at)")) if "@" in window.text else None


class FakeStream:
    def __init__(self):
        done = T.Completion("", "small", T.Usage(1, 2), [], T.FinishReason.STOP)
        self.items = [Ok(T.Chunk_Delta("Hel")), Ok(T.Chunk_Delta("lo")), Ok(T.Chunk_Done(done))]

    def next(self):
        return self.items.pop(0) if self.items else None


def fake_complete(req):
    if req.model == "none":
        raise Err(T.ModelError_Denied("not granted"))
    call = T.ToolCall("c2", "lookup", '{"a": 1}')
    return T.Completion(repr(req), req.model, T.Usage(1, 1), [call], T.FinishReason.TOOL_CALLS)


@unittest.skipIf(T is None, "no componentize-py bindings on the path")
class Bindings(unittest.TestCase):
    def setUp(self):
        self.task = T.Task(id="1", input='{"body": "hi"}', meta="{}", attempt=0, feedback=[])
        M.stream = lambda req: FakeStream()
        M.embed = lambda req: T.Embeddings([[0.5] for _ in req.inputs], req.model, T.Usage(1, 0))
        M.complete = fake_complete

    def test_judge_exports_judgements_and_windows(self):
        this = sys.modules[__name__]
        j = this.Judge()
        r = j.judge(self.task, '"bad"')
        self.assertEqual(r.verdict, T.Verdict_Reject(["bad"]))
        self.assertEqual((r.score, r.criteria), (0.2, [T.Criterion("tone", 0.1)]))
        self.assertEqual(j.judge(self.task, '"ok"'), T.Judgement(T.Verdict_Accept(), None, []))
        w = j.check_window(self.task, T.Window(text="a@b", before="", index=0, last=False))
        self.assertEqual(w.verdict, T.Verdict_Repair("a(at)b"))
        d = this.Describe().describe()
        self.assertTrue(d.checks_windows)
        self.assertEqual(d.needs, T.Needs(models=[], model_calls=None, settings=["banned"]))

    def test_models_streams_embeddings_and_tools(self):
        s = kit.stream("small", "hi")
        self.assertEqual(s.text(), "Hello")
        self.assertEqual(s.completion.usage.output_tokens, 2)
        self.assertEqual(kit.embed("e", ["a", "b"]).vectors, [[0.5], [0.5]])
        answer = kit.complete(
            "m",
            "q",
            tools=[kit.tool("lookup", "finds", {"type": "object"})],
            tool_choice="lookup",
            messages=[("tool", "42", "c1")],
        )
        self.assertIn("ToolChoice_Named(value='lookup')", answer.content)
        self.assertIn("tool_call_id='c1'", answer.content)
        self.assertEqual(kit.tool_arguments(answer.tool_calls[0]), {"a": 1})
        with self.assertRaises(kit.ModelError) as e:
            kit.complete("none", "q")
        self.assertEqual(e.exception.kind, "denied")

    def test_worker_replies(self):
        reply = kit._reply(kit.stream_reply(kit.stream("small", "hi"), field="reply", base={"model": "small"}))
        self.assertIsInstance(reply, W.Reply_Stream)
        self.assertEqual((reply.value.field, reply.value.base), ("reply", '{"model": "small"}'))
        self.assertIsInstance(reply.value.body, FakeStream)
        self.assertEqual(kit._reply({"a": 1}), W.Reply_Json('{"a": 1}'))
        self.assertEqual(kit._reply(kit.stream_reply(kit.stream("s"))).value.base, "")


if __name__ == "__main__":
    unittest.main()
