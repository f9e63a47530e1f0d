//! A real `redis-server` for the scale-out tests (Debian's `redis-server`,
//! installed by `cargo xtask test` when missing) on a free port of
//! 127.0.0.1, stopped when dropped and restartable on the same port:
//! empty each time, or (`start_persistent`) with every write kept in an
//! append-only file, so a killed Redis comes back with its data. Plain
//! commands through the `redis` crate's client let a test read what the
//! replicas wrote.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running (or stopped) Redis.
pub struct RedisServer {
    /// The port it listens on.
    pub port: u16,
    child: Option<Child>,
    /// Where it keeps its append-only file, when persistent.
    data: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub fn start() -> Self {
        let mut server = Self {
            port: crate::free_port(),
            child: None,
            data: None,
        };
        server.restart();
        server
    }

    /// Starts one that keeps every acknowledged write across a kill and
    /// restart (`appendfsync always`).
    pub fn start_persistent() -> Self {
        let mut server = Self {
            port: crate::free_port(),
            child: None,
            data: Some(tempfile::tempdir().expect("a directory for redis")),
        };
        server.restart();
        server
    }

    /// A connection for reading what the replicas wrote.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connecting to the test redis")
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port — empty, unless persistent — and
    /// waits for `PING`.
    pub fn restart(&mut self) {
        self.stop();
        let binary = guest_build::services::find("redis-server").expect(
            "redis-server is not installed: `cargo xtask test` installs it as root (Debian: apt-get install -y redis-server)",
        );
        let mut cmd = Command::new(binary);
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--protected-mode", "no"]);
        match &self.data {
            Some(dir) => cmd
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir.path()),
            None => cmd.args(["--appendonly", "no"]),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        crate::wait_until(&format!("redis-server on port {}", self.port), || {
            self.answers()
        });
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut pong = [0u8; 5];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut pong).is_ok() && &pong == b"+PONG"
    }

    /// Kills it (its port refuses connections at once).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
