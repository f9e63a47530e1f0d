//! A real `redis-server` for the scale-out tests (Debian's `redis-server`,
//! installed by `cargo xtask test` when missing) on a free port of
//! 127.0.0.1, with nothing persisted, stopped when dropped and restartable
//! on the same port.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running (or stopped) Redis.
pub struct RedisServer {
    /// The port it listens on.
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub fn start() -> Self {
        let mut server = Self {
            port: crate::free_port(),
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port, empty, and waits for `PING`.
    pub fn restart(&mut self) {
        self.stop();
        let binary = guest_build::services::find("redis-server").expect(
            "redis-server is not installed: `cargo xtask test` installs it as root (Debian: apt-get install -y redis-server)",
        );
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
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
