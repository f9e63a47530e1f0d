//! The real servers some tests start on 127.0.0.1 — the CNCF
//! Distribution registry (Debian's `docker-registry`) and `redis-server` —
//! found on `PATH` and, when missing, installed with apt-get in one go
//! (root only), as the C toolchain and Chromium are. `tests/support` finds them the same
//! way.

use std::path::PathBuf;

/// Binary → the Debian package that provides it.
pub const SERVICES: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("redis-server", "redis-server"),
];

/// `binary` on `PATH` (or `/usr/bin`, `/usr/sbin`).
pub fn find(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

/// Makes sure every service binary is there, installing the missing
/// packages with apt-get when this process is root; otherwise says what
/// to install.
pub fn ensure_services() -> Result<(), String> {
    let missing: Vec<&str> = SERVICES
        .iter()
        .filter(|(binary, _)| find(binary).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let hint = format!(
        "the registry and shared-state tests start these servers on 127.0.0.1: install them (Debian: apt-get install -y {})",
        missing.join(" ")
    );
    crate::apt::install(&missing, &hint)?;
    match SERVICES.iter().find(|(binary, _)| find(binary).is_none()) {
        Some((binary, package)) => Err(format!(
            "{hint}; apt-get installed {package} but no `{binary}` was found"
        )),
        None => Ok(()),
    }
}
