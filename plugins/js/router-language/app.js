// router-language: a switchyard router node in JavaScript. Routes a task to
// one of its branches by the ticket's language and urgency; see route.js for
// the logic and README.md for settings. The exports come from the JavaScript
// kit (host/kits/js/switchyard-node.js, imported from the checkout; build.sh
// gives the build the repository as module root). Built with
// componentize-qjs (see build.sh); the same source builds on the
// StarlingMonkey backend.
import { defineRouter, InvalidInput, log, rawSetting } from "../../../host/kits/js/switchyard-node.js";
import { InvalidInput as RouteInvalidInput, parseSettings, route as pick } from "./route.js";

export const { describe, router } = defineRouter({
  name: "router-language",
  version: "0.1.0",
  summary: "Routes a ticket by language (script and common words) and urgency keywords to a matching branch label",
  needs: { settings: ["default", "routes", "urgent-keywords"] },
  inputSchema: {
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
  },
  route(task, candidates) {
    try {
      const decision = pick(task.input, candidates, parseSettings(rawSetting, candidates));
      log.debug(`${decision.target} (${decision.confidence}): ${decision.reason}`);
      return decision;
    } catch (e) {
      throw e instanceof RouteInvalidInput ? new InvalidInput(e.message) : e;
    }
  },
});
