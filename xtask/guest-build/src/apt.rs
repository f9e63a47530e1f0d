//! Installing Debian packages the set-up needs, the one way both the C
//! toolchain and headless Chromium are installed: `apt-get update` then
//! `apt-get install`, quietly and without recommends, only when this
//! process is root and apt-get exists.

use std::process::Command;

/// Installs `packages` with apt-get. `Err(hint)` when this process may not
/// (not root, no apt-get) or apt-get fails; `hint` says what to install.
pub fn install(packages: &[&str], hint: &str) -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(hint.to_string());
    }
    eprintln!(
        "guest-build: installing {} with apt-get",
        packages.join(" ")
    );
    let quiet = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend_from_slice(packages);
    if quiet(&["update", "-qq"]) && quiet(&install) {
        Ok(())
    } else {
        Err(format!("{hint}; apt-get could not"))
    }
}
