//! The served part of `cargo xtask profile`: where a served run's CPU goes
//! beyond the run itself, and what the load generator beside it costs.
//!
//! `switchyard serve` runs the benchmark shape and `switchyard load` (32
//! keep-alive clients, a separate process) drives `POST /v1/runs`; both
//! are recorded with `perf` at once, each into its own file. A server
//! sample whose stack is inside the run (the executor, the sandbox, the
//! hub: see [`in_the_run`]) is counted as in `switchyard run`, by the
//! run's categories; any other is put, leaf first, in the first served
//! category one of its frames matches (the loopback TCP send, hyper and
//! axum, the request's JSON and the answer, metrics): the run's future is
//! polled inside the HTTP handler, so the handler's frames are on every
//! stack and only the frames nearest the leaf say what a sample was doing.
//! The load generator is reported as one figure: its CPU per request.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::profile::{category, read_profile, Profile, FREQ};

/// Requests measured.
pub const REQUESTS: usize = 20_000;
/// Keep-alive clients of the load generator.
const CLIENTS: &str = "32";

/// Frames only a run's own work has on its stack: the executor, the
/// sandbox, the hub. Everything else on the server is serving.
const RUN_FRAMES: &[&str] = &[
    "switchyard::pipeline::executor",
    "switchyard::pipeline::gate",
    "switchyard::engine::",
    "switchyard::models::",
    "wasmtime",
    "wasm[",
];

/// Served categories, matched leaf first (see the module doc).
const SERVED: &[(&str, &[&str])] = &[
    (
        "served: loopback TCP (the kernel's send and receive; the send delivers to the client)",
        &[
            "writev",
            "sendto",
            "sendmsg",
            "recvfrom",
            "tcp_",
            "sock_",
            "__x64_sys_read",
            "__x64_sys_write",
        ],
    ),
    (
        "served: the /v1/runs handler (the request's JSON, the answer: the run's record encoded)",
        &[
            "pipeline::record::",
            "axum::json::Json",
            "serde_json::de::from_slice",
            "serve::api::",
        ],
    ),
    (
        "served: HTTP (hyper and axum: parse, route, encode)",
        &[
            "hyper::",
            "hyper_util::",
            "axum::",
            "httparse",
            "tower::",
            "http::",
        ],
    ),
];

/// What the service counts after each run, outside the run's future.
const METRICS: (&str, &[&str]) = (
    "served: metrics and the status board",
    &["serve::metrics::", "serve::status::", "prometheus_client"],
);

/// The run's future: what is inside it is the run's work.
const RUN_FUTURE: &[&str] = &["tracing::instrument::Instrumented", "run_admitted"];

/// Whether a folded stack (root first) is a run's own work. Outside the
/// run's future, the handler encoding its answer is serving even where
/// the run's types are on the stack (their ledger, totals and routes).
fn in_the_run(stack: &str) -> bool {
    if RUN_FUTURE.iter().any(|f| stack.contains(f)) {
        return true;
    }
    let encoding_the_answer =
        stack.contains("serve::api::") && stack.contains("serde_core::ser::Serialize for");
    !encoding_the_answer && RUN_FRAMES.iter().any(|f| stack.contains(f))
}

/// The category of a server sample.
pub(crate) fn served_category(stack: &str) -> &'static str {
    if METRICS.1.iter().any(|p| stack.contains(p)) {
        return METRICS.0;
    }
    if in_the_run(stack) {
        return category(stack);
    }
    for frame in stack.rsplit(';') {
        for (name, patterns) in SERVED {
            if patterns.iter().any(|p| frame.contains(p)) {
                return name;
            }
        }
    }
    category(stack)
}

/// The names of the served categories, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    SERVED.iter().map(|(n, _)| *n).chain([METRICS.0])
}

/// A server on 127.0.0.1 that is stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the served profile measured.
pub struct Served {
    /// The server's samples by category.
    pub server: Profile,
    /// The server's CPU per request, µs (from the kernel's count for the
    /// process, which does not depend on when `perf` attached).
    pub server_us: f64,
    /// The load generator's CPU per request, µs.
    pub load_us: f64,
}

/// Records the served shape: the server's profile, its CPU per request,
/// and the load generator's.
pub fn profile(
    root: &Path,
    switchyard_fp: &Path,
    pipeline: &Path,
    input: &Path,
    out: &Path,
) -> Result<Served, String> {
    let mut child = Command::new(switchyard_fp)
        .arg("serve")
        .arg(pipeline)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `switchyard serve`: {e}"))?;
    let stderr = child.stderr.take().expect("piped");
    let server = Server(child);
    let url = served_url(stderr)?;
    // Absolute paths: the load generator's command runs under `perf`.
    let load = |requests: usize| {
        let mut c = Command::new(switchyard_fp);
        c.arg("load")
            .arg(&url)
            .args(["-c", CLIENTS, "-n", &requests.to_string()])
            .args(["--warmup", "0", "--input"])
            .arg(input);
        c
    };
    // Warm: components instantiated, pool slots touched, connections open.
    crate::bench::output(&mut load(2_000))?;

    let pid = server.0.id();
    let server_data = out.join("served.perf.data");
    let mut recorder = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", FREQ])
        .args(["--call-graph", "fp", "-o"])
        .arg(&server_data)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    let before = cpu_ticks(pid);
    let load_data = out.join("load.perf.data");
    let status = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", FREQ])
        .args(["--call-graph", "fp", "-o"])
        .arg(&load_data)
        .arg("--")
        .args(load_args(&load(REQUESTS)))
        .current_dir(root)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run perf: {e}"));
    let after = cpu_ticks(pid);
    // perf writes its file on SIGINT; if it cannot be signalled, stopping
    // the server it follows ends it too.
    let signalled = Command::new("kill")
        .args(["-INT", &recorder.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !signalled {
        drop(server);
    }
    let _ = recorder.wait();
    let (before, after, status) = (before?, after?, status?);
    if !status.success() {
        return Err(format!(
            "perf record of `switchyard load` failed ({status})"
        ));
    }
    let server = read_profile(
        &server_data,
        &out.join("served.folded"),
        "served".into(),
        served_category,
    )?;
    let load = read_profile(
        &load_data,
        &out.join("load.folded"),
        "load generator".into(),
        category,
    )?;
    Ok(Served {
        server,
        server_us: (after - before) as f64 * TICK_US / REQUESTS as f64,
        load_us: load.total_ns as f64 / 1_000.0 / REQUESTS as f64,
    })
}

/// µs per clock tick of `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICK_US: f64 = 10_000.0;

/// The CPU time of every thread of `pid`, user and system, in ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| format!("{path}: no utime and stime in `{stat}`"))
}

/// utime + stime from a `/proc/PID/stat` line (fields 14 and 15; the
/// command name, field 2, may hold spaces, so fields count from its `)`).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A command's program and arguments, to run under `perf record --`
/// (its directory and stdio are not carried over).
fn load_args(c: &Command) -> Vec<PathBuf> {
    std::iter::once(PathBuf::from(c.get_program()))
        .chain(c.get_args().map(PathBuf::from))
        .collect()
}

/// The URL of `POST /v1/runs`, from the server's "serving … on http://…"
/// line; the rest of its stderr is drained on a thread so it never blocks.
fn served_url(stderr: std::process::ChildStderr) -> Result<String, String> {
    let mut lines = BufReader::new(stderr).lines();
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let line = line.map_err(|e| format!("reading the server's stderr: {e}"))?;
        if let Some(at) = line.find("http://") {
            let base = line[at..].split_whitespace().next().unwrap_or_default();
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(format!("{}/v1/runs", base.trim_end_matches('/')));
        }
        said.push(line);
    }
    Err(format!(
        "`switchyard serve` ended before it said where it listens; it said:\n{}",
        said.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_served_sample_is_the_run_s_own_work_or_what_serving_costs() {
        let handler = "start_thread;tokio::runtime::scheduler::multi_thread::worker::run;switchyard::serve::conn::serve::{{closure}};hyper::proto::h1::dispatch::Dispatcher::poll_write;axum::routing::Router::call_with_state;switchyard::serve::api::runs::{{closure}}";
        // The run, polled inside the handler, is counted as in a batch.
        assert_eq!(
            served_category(&format!(
                "{handler};switchyard::serve::live::LiveService::run_queued::{{{{closure}}}};switchyard::pipeline::executor::<impl switchyard::pipeline::Pipeline>::run_admitted::{{{{closure}}}};wasmtime::runtime::instance::Instance::new_started"
            )),
            category("switchyard::pipeline::executor::run_admitted;wasmtime::runtime::instance::Instance::new_started"),
        );
        // The answer: the record's encoding under axum's `Json`, leaf first.
        assert_eq!(
            served_category(&format!("{handler};<axum::json::Json<T> as axum_core::response::into_response::IntoResponse>::into_response;switchyard::pipeline::record::_::<impl serde_core::ser::Serialize for switchyard::pipeline::record::RunRecord>::serialize;serde_json::ser::format_escaped_str")),
            SERVED[1].0
        );
        assert_eq!(
            served_category(&format!("{handler};serde_json::de::from_slice;malloc")),
            SERVED[1].0,
            "the request's JSON is the handler's"
        );
        assert_eq!(
            served_category(&format!("{handler};<axum::json::Json<T> as axum_core::response::into_response::IntoResponse>::into_response;switchyard::serve::api::_::<impl serde_core::ser::Serialize for switchyard::serve::api::RunResponse>::serialize;switchyard::models::ledger::_::<impl serde_core::ser::Serialize for switchyard::models::ledger::LedgerEntry>::serialize")),
            SERVED[1].0,
            "the answer's ledger is encoded by the handler, not the hub"
        );
        assert_eq!(
            served_category(&format!("{handler};tracing::span::Span::new;malloc")),
            SERVED[1].0,
            "what the handler does itself is the handler's"
        );
        assert_eq!(
            served_category(&format!("{handler};switchyard::serve::live::LiveService::run_queued::{{{{closure}}}};switchyard::serve::metrics::Metrics::observe;prometheus_client::metrics::family::Family::get_or_create")),
            METRICS.0
        );
        let flush = "start_thread;switchyard::serve::conn::serve::{{closure}};hyper::proto::h1::io::Buffered::poll_flush;tokio::runtime::io::registration::Registration::poll_io;__GI___writev;entry_SYSCALL_64_after_hwframe;tcp_sendmsg_locked;_raw_spin_unlock_irqrestore";
        assert_eq!(served_category(flush), SERVED[0].0);
        assert_eq!(
            served_category("start_thread;switchyard::serve::conn::serve::{{closure}};hyper::proto::h1::role::Server::parse;httparse::ParserConfig::parse_request_with_uninit_headers"),
            SERVED[2].0
        );
        assert_eq!(
            served_category(&format!("{handler};<tracing::instrument::Instrumented<T> as core::future::future::Future>::poll;futures_util::stream::futures_unordered::FuturesUnordered<Fut>::push")),
            category("<tracing::instrument::Instrumented<T> as core::future::future::Future>::poll;futures_util::stream::futures_unordered::FuturesUnordered<Fut>::push"),
            "the run's future, polled in the handler, is the run even where the executor's frames were inlined"
        );
        assert_eq!(
            served_category("start_thread;tokio::runtime::scheduler::multi_thread::worker::run;tokio::runtime::scheduler::multi_thread::worker::Context::park;futex_wait"),
            category("tokio::runtime::scheduler::multi_thread::worker::Context::park;futex_wait"),
            "what is neither keeps the run's generic categories"
        );
    }

    #[test]
    fn cpu_ticks_are_user_and_system_time() {
        let stat =
            "4242 (tokio rt) S 1 4242 4242 0 -1 4194560 2000 0 0 0 731 204 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(935));
        assert_eq!(parse_cpu_ticks("4242 (x"), None);
        assert!(cpu_ticks(std::process::id()).is_ok());
    }

    #[test]
    fn the_url_is_read_from_the_server_s_line() {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "echo 'switchyard: admin API off' >&2; echo 'switchyard: serving `four-node` on http://127.0.0.1:41234' >&2; echo more >&2",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let url = served_url(child.stderr.take().unwrap()).unwrap();
        assert_eq!(url, "http://127.0.0.1:41234/v1/runs");
        child.wait().unwrap();
    }
}
