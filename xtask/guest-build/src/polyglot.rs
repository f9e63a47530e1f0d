//! The first-party plugins written in Python, JavaScript and C
//! (`plugins/<lang>/<name>/`, each on its language's authoring kit in
//! `host/kits/<lang>/`): their toolchains, and building each with its
//! own `build.sh` into one output folder. C bindings are generated here from
//! the WIT with the `wit-bindgen-c` library, so no generated code is kept
//! in the repository and no `wit-bindgen` binary is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use wit_bindgen_core::wit_parser::Resolve;
use wit_bindgen_core::Files;

/// One plugin in another language.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    /// Folder under `plugins/`.
    pub dir: &'static str,
    /// Language: `python`, `js` or `c`.
    pub lang: &'static str,
    /// The world it targets.
    pub world: &'static str,
    /// The component file its build writes.
    pub wasm: &'static str,
}

/// Every first-party plugin in another language.
pub const PLUGINS: &[Plugin] = &[
    Plugin {
        dir: "python/judge-tone",
        lang: "python",
        world: "judge-node",
        wasm: "judge_tone.wasm",
    },
    Plugin {
        dir: "js/router-language",
        lang: "js",
        world: "router-node",
        wasm: "router_language.wasm",
    },
    Plugin {
        dir: "c/judge-length",
        lang: "c",
        world: "judge-node",
        wasm: "judge_length.wasm",
    },
];

/// The authoring kits of the other languages, relative to the repository
/// root: `switchyard new` copies them into projects, and the plugins above
/// are built on them (their `build.sh` takes them from here).
pub const KITS: &str = "host/kits";

/// The contract the kits and the plugins in other languages target,
/// relative to the repository root (older folders stay, frozen, for the
/// components already built against them).
pub const WIT: &str = "wit/node@0.2.0";

/// The C toolchain's install command on Debian.
pub const C_PACKAGES: &[&str] = &["clang", "lld", "wasi-libc", "libclang-rt-dev-wasm32"];

/// Writes the C bindings of `world` from the WIT package in `wit` into
/// `out` (`<world>.c`, `<world>.h`; the component type is embedded later by
/// `wasm-tools component embed`).
pub fn c_bindings(wit: &Path, world: &str, out: &Path) -> Result<(), String> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_dir(wit)
        .map_err(|e| format!("cannot read the WIT in {}: {e:#}", wit.display()))?;
    let id = resolve
        .select_world(&[pkg], Some(world))
        .map_err(|e| format!("no world `{world}` in {}: {e:#}", wit.display()))?;
    let mut files = Files::default();
    let opts = wit_bindgen_c::Opts {
        no_object_file: true,
        ..Default::default()
    };
    opts.build()
        .generate(&mut resolve, id, &mut files)
        .map_err(|e| format!("generating C bindings for `{world}`: {e:#}"))?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for (name, bytes) in files.iter() {
        let path = out.join(name);
        // Rewrite only on change, so builds that watch mtimes stay quiet.
        if std::fs::read(&path).ok().as_deref() != Some(bytes) {
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn c_toolchain_works() -> bool {
    let dir = std::env::temp_dir().join(format!("switchyard-clang-probe-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let src = dir.join("probe.c");
    let ok = std::fs::write(&src, "int probe(void) { return 0; }\n").is_ok()
        && Command::new("clang")
            .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-o"])
            .arg(dir.join("probe.wasm"))
            .arg(&src)
            .output()
            .is_ok_and(|o| o.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    ok
}

/// Makes sure clang can build for `wasm32-wasi`, installing Debian's
/// packages with apt-get when it cannot and this process may (root, or
/// `CI` set). Otherwise says what to install.
pub fn ensure_c_toolchain() -> Result<(), String> {
    if c_toolchain_works() {
        return Ok(());
    }
    let hint = format!(
        "clang cannot build for wasm32-wasi; install it (Debian: apt-get install -y {})",
        C_PACKAGES.join(" ")
    );
    crate::apt::install(C_PACKAGES, &hint)?;
    if !c_toolchain_works() {
        return Err(format!(
            "{hint}; apt-get installed it, but clang still cannot"
        ));
    }
    Ok(())
}

/// Builds every plugin in [`PLUGINS`] into `out` (the C bindings first),
/// each with its `build.sh`, which installs its own language tools (a
/// Python venv, npm packages) and runs the plugin's unit tests.
pub fn build_all(root: &Path, out: &Path) -> Result<PathBuf, String> {
    let wit = root.join(WIT);
    for p in PLUGINS {
        let dir = root.join("plugins").join(p.dir);
        if p.lang == "c" {
            ensure_c_toolchain()?;
            c_bindings(&wit, p.world, &dir.join("gen"))?;
        }
        let status = Command::new("bash")
            .arg(dir.join("build.sh"))
            .arg(out)
            .current_dir(&dir)
            .status()
            .map_err(|e| format!("cannot run bash for {}: {e}", p.dir))?;
        if !status.success() {
            return Err(format!(
                "building plugins/{} ({}) failed (see its output above)",
                p.dir, p.lang
            ));
        }
    }
    Ok(out.to_path_buf())
}
