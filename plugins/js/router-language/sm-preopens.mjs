// Preloaded (node --import) before componentize-js's CLI when building with
// JS_BACKEND=sm. componentize-js runs its splicer, itself a component, on
// @bytecodealliance/preview2-shim, whose Node.js filesystem starts with no
// preopened directories in 0.26: the splicer then cannot read the WIT folder
// ("No such file or directory (os error 44)"). Grant it the host's root.
import { _setPreopens } from "@bytecodealliance/preview2-shim/filesystem";

_setPreopens({ "/": "/" });
