"""judge-tone: a guardrail judge that rejects replies that are rude, blame
the customer, over-promise or shout. Granted no models.

Candidate: a JSON object with a `reply` or `answer` string field, a JSON
string, or plain (non-JSON) text. Settings (JSON values, from the manifest's
`[nodes.<name>.settings]`):
  banned-phrases  list of extra phrases to reject (case-insensitive)
  checks          subset of ["over-promising", "blame", "condescending",
                  "shouting"] to run (default: all)

The logic lives in `tone.py` (no bindings, unit-tested natively); this file
maps it onto the judge-node world. Built with componentize-py; see build.sh.
"""

import wit_world
from componentize_py_types import Err
from wit_world.exports import Describe as DescribeBase
from wit_world.exports import Judge as JudgeBase
from wit_world.imports import config, log
from wit_world.imports.types import (
    Description,
    NodeError_Internal,
    NodeError_InvalidInput,
    NodeRole,
    Task,
    Verdict,
    Verdict_Accept,
    Verdict_Reject,
)

import tone

NAME = "judge-tone"
VERSION = "0.1.0"


class WitWorld(wit_world.WitWorld):
    pass


class Describe(DescribeBase):
    def describe(self) -> Description:
        return Description(
            role=NodeRole.JUDGE,
            name=NAME,
            version=VERSION,
            summary="Rejects replies that over-promise, blame the customer, are "
            "condescending or shout; extra phrases via the `banned-phrases` setting.",
            input_schema=None,
            output_schema=None,
        )


class Judge(JudgeBase):
    def judge(self, task: Task, candidate: str) -> Verdict:
        try:
            settings = tone.Settings.from_lookup(config.get)
            reasons = tone.check(candidate, settings)
        except tone.InvalidInput as e:
            raise Err(NodeError_InvalidInput(str(e)))
        except Exception as e:  # a bug here must not trap the run
            raise Err(NodeError_Internal("%s: %s" % (type(e).__name__, e)))
        log.emit(log.Level.DEBUG, "%d tone finding(s)" % len(reasons))
        if reasons:
            return Verdict_Reject(reasons)
        return Verdict_Accept()
