//! A real OCI registry for the publishing tests: the CNCF Distribution
//! registry (Debian's `docker-registry`, installed by `cargo xtask test`
//! when missing) on a free port of 127.0.0.1, storing into a temporary
//! directory, stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running registry.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Registry {
    /// Starts a registry and waits until it answers `GET /v2/`.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a registry that requires HTTP Basic credentials: `htpasswd`
    /// is one `user:bcrypt-hash` line.
    pub fn start_with_auth(htpasswd: &str) -> Self {
        Self::start_with(Some(htpasswd))
    }

    fn start_with(htpasswd: Option<&str>) -> Self {
        let binary = guest_build::services::find("docker-registry").expect(
            "docker-registry is not installed: `cargo xtask test` installs it as root (Debian: apt-get install -y docker-registry)",
        );
        let addr = format!("127.0.0.1:{}", crate::free_port());
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some(line) = htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{line}\n")).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: switchyard-test\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let registry = Self {
            addr,
            dir,
            child: Some(child),
        };
        crate::wait_until(&format!("docker-registry on {}", registry.addr), || {
            registry.answers()
        });
        registry
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(&self.addr) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        // 200, or 401 when it asks for credentials: either way it serves.
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok()
            && (head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.1 401"))
    }

    /// `oci://ADDR/REPO:TAG`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("oci://{}/{repo_and_tag}", self.addr)
    }

    /// The file the registry keeps blob `digest` (`sha256:…`) in.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stops it (the port stops answering at once).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
