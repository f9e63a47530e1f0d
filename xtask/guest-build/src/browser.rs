//! Headless Chromium for the tests that load an HTML page in a real browser
//! (the comparison report; later the dashboard): finding a Chromium binary,
//! and installing Debian's `chromium` package with apt-get when there is
//! none and this process may (root), as the C toolchain is installed.
//! `tests/support/browser.rs` looks for the binary the same way.

use std::path::{Path, PathBuf};

/// The Debian package that provides headless Chromium.
pub const CHROMIUM_PACKAGE: &str = "chromium";

/// Binary names tried on `PATH`, in order (Debian's first).
pub const CHROMIUM_BINARIES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome-stable",
    "google-chrome",
    "headless_shell",
];

/// The environment variable naming a Chromium binary explicitly.
pub const CHROMIUM_ENV: &str = "SWITCHYARD_CHROMIUM";

/// The Chromium binary to use: `$SWITCHYARD_CHROMIUM` when set, else the
/// first of [`CHROMIUM_BINARIES`] on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CHROMIUM_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    CHROMIUM_BINARIES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Makes sure a Chromium binary is there, installing Debian's `chromium`
/// package with apt-get when none is found and this process is root.
/// Otherwise says what to install.
pub fn ensure_chromium() -> Result<PathBuf, String> {
    if let Some(p) = find_chromium() {
        return Ok(p);
    }
    let hint = format!(
        "no Chromium found (tried {} on PATH, and ${CHROMIUM_ENV}); the HTML report tests need it: install it (Debian: apt-get install -y {CHROMIUM_PACKAGE})",
        CHROMIUM_BINARIES.join(", ")
    );
    crate::apt::install(&[CHROMIUM_PACKAGE], &hint)?;
    find_chromium().ok_or_else(|| format!("{hint}; apt-get installed it but no binary was found"))
}
