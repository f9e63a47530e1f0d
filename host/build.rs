//! Generates the C bindings of the three node worlds from the WIT of the
//! current contract (`guest_build::polyglot::WIT`), for `switchyard new
//! --lang c` to write into new C projects.

use std::path::Path;

fn main() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(guest_build::polyglot::WIT);
    println!("cargo:rerun-if-changed={}", wit.display());
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("c-bindings");
    for world in ["judge-node", "router-node", "worker-node"] {
        guest_build::polyglot::c_bindings(&wit, world, &out).unwrap_or_else(|e| panic!("{e}"));
    }
}
