// router-language: a switchyard router node in JavaScript. Routes a task to
// one of its branches by the ticket's language and urgency; see route.js for
// the logic and README.md for settings. Built with componentize-js (see
// build.sh); the same source builds on the StarlingMonkey and QuickJS
// backends.
import { get } from "switchyard:node/config@0.1.0";
import { emit } from "switchyard:node/log@0.1.0";
import { InvalidInput, parseSettings, route as pick } from "./route.js";

const VERSION = "0.1.0";

export const describe = {
  describe() {
    return {
      role: "router",
      name: "router-language",
      version: VERSION,
      summary:
        "Routes a ticket by language (script and common words) and urgency keywords to a matching branch label",
      inputSchema: JSON.stringify({
        anyOf: [
          { type: "string" },
          {
            type: "object",
            properties: {
              subject: { type: "string" },
              title: { type: "string" },
              body: { type: "string" },
              text: { type: "string" },
              message: { type: "string" },
            },
          },
        ],
      }),
      outputSchema: undefined,
    };
  },
};

export const router = {
  route(task, candidates) {
    try {
      let input;
      try {
        input = JSON.parse(task.input);
      } catch (e) {
        throw new InvalidInput(`task input is not JSON: ${e.message}`);
      }
      const settings = parseSettings(get, candidates);
      const decision = pick(input, candidates, settings);
      emit("debug", `${decision.target} (${decision.confidence}): ${decision.reason}`);
      return decision;
    } catch (e) {
      if (e instanceof InvalidInput) throw { tag: "invalid-input", val: e.message };
      throw { tag: "internal", val: String(e && e.stack ? `${e}\n${e.stack}` : e) };
    }
  },
};
