//! Builds the first-party Rust plugins and the test fixture components from
//! source, so the integration tests always run against current guests.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    let workspaces = [
        root.join("plugins/rust"),
        root.join("tests/fixtures"),
        root.join("bench"),
    ];
    for p in guest_build::polyglot::PLUGINS {
        for f in guest_build::inputs(&root.join("plugins").join(p.dir)) {
            println!("cargo:rerun-if-changed={}", f.display());
        }
    }
    // The authoring kits those plugins are built on (host/kits/<lang>/).
    for f in guest_build::inputs(&root.join(guest_build::polyglot::KITS)) {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    for dir in &workspaces {
        for f in guest_build::inputs(dir) {
            println!("cargo:rerun-if-changed={}", f.display());
        }
    }
    for f in guest_build::inputs(&root.join("wit")) {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let plugins = guest_build::build_workspace(&workspaces[0]).unwrap_or_else(|e| panic!("{e}"));
    let fixtures = guest_build::build_workspace(&workspaces[1]).unwrap_or_else(|e| panic!("{e}"));
    let hostile = guest_build::build_examples(&workspaces[1], "hostile-suite")
        .unwrap_or_else(|e| panic!("{e}"));
    // The scripted router, worker and judge the fuzz harness drives (in the
    // same examples directory).
    guest_build::build_examples(&workspaces[1], "scripted-node").unwrap_or_else(|e| panic!("{e}"));
    // The benchmark shape's nodes (bench/four-node/pipeline.toml names
    // them where they are built).
    guest_build::build_examples(&workspaces[2], "bench-nodes").unwrap_or_else(|e| panic!("{e}"));
    println!(
        "cargo:rustc-env=SWITCHYARD_PLUGINS_DIR={}",
        plugins.display()
    );
    println!(
        "cargo:rustc-env=SWITCHYARD_FIXTURES_DIR={}",
        fixtures.display()
    );
    println!(
        "cargo:rustc-env=SWITCHYARD_HOSTILE_DIR={}",
        hostile.display()
    );
    println!("cargo:rustc-env=SWITCHYARD_ROOT={}", root.display());
    // The Python, JavaScript and C plugins. Their toolchains come from
    // outside cargo; in CI a missing one fails the build, elsewhere the
    // tests that need these components fail with this message.
    let polyglot = root.join("target/plugins");
    println!(
        "cargo:rustc-env=SWITCHYARD_POLYGLOT_DIR={}",
        polyglot.display()
    );
    let error = match guest_build::polyglot::build_all(&root, &polyglot) {
        Ok(_) => String::new(),
        Err(e) if std::env::var_os("CI").is_some() => panic!("{e}"),
        Err(e) => {
            println!("cargo:warning=plugins in other languages not built: {e}");
            e
        }
    };
    println!("cargo:rustc-env=SWITCHYARD_POLYGLOT_ERROR={error}");
}
