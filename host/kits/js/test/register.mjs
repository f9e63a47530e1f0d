// `node --import ./test/register.mjs --test test/switchyard-node.test.mjs`: resolves the host's
// interfaces (`switchyard:node/...`) to host-stub.mjs.
import { register } from "node:module";

register(
  "data:text/javascript," +
    encodeURIComponent(`
      export async function resolve(spec, ctx, next) {
        if (spec.startsWith("switchyard:node/")) return { url: ${JSON.stringify(new URL("./host-stub.mjs", import.meta.url).href)}, shortCircuit: true };
        return next(spec, ctx);
      }`),
);
