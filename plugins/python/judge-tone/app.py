"""judge-tone: a guardrail judge that rejects replies that are rude, blame
the customer, over-promise or shout. Granted no models.

Candidate: a JSON object with a `reply` or `answer` string field, a JSON
string, or plain (non-JSON) text. Settings (JSON values, from the manifest's
`[nodes.<name>.settings]`):
  banned-phrases  list of extra phrases to reject (case-insensitive)
  checks          subset of ["over-promising", "blame", "condescending",
                  "shouting"] to run (default: all)

The logic lives in `tone.py` (no bindings, unit-tested natively); this file
makes it a judge with the Python kit (`host/kits/python/switchyard_node.py`,
which owns the componentize-py bindings). Built with componentize-py; see
build.sh.
"""

import tone
from switchyard_node import InvalidInput, judge, log, raw_setting


@judge(
    "judge-tone",
    version="0.1.0",
    summary="Rejects replies that over-promise, blame the customer, are "
    "condescending or shout; extra phrases via the `banned-phrases` setting.",
    needs={"settings": ["banned-phrases", "checks"]},
)
def check(task, candidate):
    """The tone findings on `candidate`, as reasons to reject it."""
    try:
        reasons = tone.check(candidate, tone.Settings.from_lookup(raw_setting))
    except tone.InvalidInput as e:
        raise InvalidInput(str(e)) from None
    log.debug("%d tone finding(s)" % len(reasons))
    return reasons
