//! The connections of `switchyard serve`: accepting, capping, timing out
//! and draining them. A client is untrusted: it may open connections and
//! never finish a request, drip its headers or body a byte at a time, or
//! never read the answer. So the server
//! - caps open connections (`--max-connections`, kept below the process's
//!   open-file limit), and at the cap closes the oldest connection that has
//!   no request being handled, so a new client (a health check) gets in;
//! - closes a connection whose request head does not arrive within
//!   `--header-timeout-ms` (which also ends idle keep-alive connections);
//! - leaves the body's own deadline and size to [`super::guard`], which
//!   also marks a connection busy only once its request is fully received.
//!
//! On shutdown it stops accepting, lets each connection finish the request
//! it is handling, and returns when all are closed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How connections are limited.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request head (and the longest a
    /// keep-alive connection may sit idle).
    pub header_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
        }
    }
}

impl ConnLimits {
    /// These limits with `max_connections` lowered below the process's
    /// open-file limit (leaving room for files, upstream connections and
    /// the listener), where that limit can be read.
    pub fn within_open_file_limit(mut self) -> Self {
        if let Some(files) = open_file_limit() {
            let room = files.saturating_sub(256).max(16) as usize;
            if room < self.max_connections {
                tracing::info!(
                    max_connections = room,
                    open_files = files,
                    "capping connections below the open-file limit"
                );
                self.max_connections = room;
            }
        }
        self
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One open connection, as the accept loop sees it.
#[derive(Debug, Default)]
pub struct Activity {
    /// Requests fully received and being handled.
    busy: AtomicUsize,
    /// Woken to close the connection at once.
    evict: Notify,
}

impl Activity {
    /// Marks a fully received request as being handled until the guard
    /// drops.
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::SeqCst);
        BusyGuard(self.clone())
    }
}

/// See [`Activity::busy`].
#[derive(Debug)]
pub struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, oldest first.
#[derive(Debug, Default)]
struct Registry {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Activity>>>,
}

impl Registry {
    fn add(&self) -> (u64, Arc<Activity>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let a = Arc::new(Activity::default());
        self.lock().insert(id, a.clone());
        (id, a)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Closes the oldest connection handling no request; `false` if every
    /// connection is busy.
    fn evict_oldest_idle(&self) -> bool {
        let mut open = self.lock();
        let idle = open
            .iter()
            .find(|(_, a)| a.busy.load(Ordering::SeqCst) == 0)
            .map(|(id, _)| *id);
        match idle.and_then(|id| open.remove(&id)) {
            Some(a) => {
                a.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes a connection from the registry however its task ends.
struct Registered<'a>(&'a Registry, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.remove(self.1);
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves,
/// then drains. Each request carries its connection's [`Activity`] as an
/// extension.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        while tasks.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors (or a transient accept error):
                // free one if any connection is idle, else back off.
                tracing::warn!(error = %e, "accept failed");
                if !registry.evict_oldest_idle() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                continue;
            }
        };
        if registry.len() >= limits.max_connections && !registry.evict_oldest_idle() {
            // Every connection is handling a request: refuse this one.
            tracing::debug!("connection refused: at --max-connections, all busy");
            drop(stream);
            continue;
        }
        let (id, activity) = registry.add();
        let registry = registry.clone();
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let _registered = Registered(&registry, id);
            let _ = stream.set_nodelay(true);
            let conn_activity = activity.clone();
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(conn_activity.clone());
                app.clone().oneshot(req)
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = activity.evict.notified() => {}
                () = async { drop(stop.wait_for(|s| *s).await) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_eviction_takes_the_oldest_idle_connection_never_a_busy_one() {
        let r = Registry::default();
        let (a, first) = r.add();
        let (b, _second) = r.add();
        let busy = first.busy();
        assert!(r.evict_oldest_idle());
        let open: Vec<u64> = r.lock().keys().copied().collect();
        assert_eq!(open, [a], "the idle one went, the busy one stayed");
        assert!(!r.evict_oldest_idle(), "nothing idle left");
        drop(busy);
        assert!(r.evict_oldest_idle());
        assert_eq!(r.len(), 0);
        let _ = b;
    }

    #[test]
    fn conn_limits_read_the_open_file_limit() {
        assert!(open_file_limit().is_some_and(|n| n > 0));
        let l = ConnLimits {
            max_connections: usize::MAX,
            ..ConnLimits::default()
        }
        .within_open_file_limit();
        assert!(l.max_connections < usize::MAX);
    }
}
