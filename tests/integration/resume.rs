//! `switchyard run` as users run it — the real binary, a real `.partial`
//! file, real signals: a batch killed (SIGKILL) or stopped (SIGTERM,
//! SIGINT) at any point resumes with `--resume` to exactly one record per
//! input line, in input order, and a summary that counts both parts; torn
//! lines, foreign partials, existing partials, bad output paths and a full
//! disk are handled before or without losing a record; dispatch slows down
//! when the upstream is down. No sleeps: tests poll for a condition.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_tests::{fixture, switchyard_bin, toml_path};

/// Input lines of most tests: 60 runs of 50 ms each, two at a time, so a
/// batch takes about 1.5 s — time to stop it anywhere.
const LINES: usize = 60;

/// A batch in a temporary directory: manifest, input, output, summary.
struct Batch {
    dir: tempfile::TempDir,
    manifest: PathBuf,
    input: PathBuf,
    output: PathBuf,
    summary: PathBuf,
}

/// A worker asking the model its input names (`slow` unless told):
/// `slow` answers in 50 ms, `stuck` in a minute, `down` never.
fn manifest_text(stuck_ms: u64) -> String {
    format!(
        r#"[pipeline]
name = "resume"
deadline-ms = 120000

[models.slow]
provider = "sim"
price = {{ input = 1.0, output = 2.0 }}
sim = {{ ttft-ms = 50 }}

[models.stuck]
provider = "sim"
price = {{ input = 1.0, output = 2.0 }}
timeout-ms = 120000
sim = {{ ttft-ms = {stuck_ms} }}

[models.down]
provider = "sim"
retries = 0
circuit-breaker = {{ enabled = false }}
sim = {{ error-rate = 1.0 }}

[nodes.w]
role = "worker"
component = {}
models = ["slow", "stuck", "down"]
settings = {{ do = "model" }}
limits = {{ wall-ms = 110000 }}
"#,
        toml_path(&fixture("worker_hostile"))
    )
}

/// Input line `i` (1-based): its id and the model it asks.
fn input_line(i: usize, model: &str) -> String {
    format!("{{\"id\":\"t{i:03}\",\"input\":{{\"model\":\"{model}\",\"n\":{i}}}}}\n")
}

impl Batch {
    /// `lines` input lines; line `i` asks `model(i)`.
    fn new(lines: usize, model: impl Fn(usize) -> &'static str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("pipeline.toml");
        std::fs::write(&manifest, manifest_text(60_000)).unwrap();
        let input = dir.path().join("in.jsonl");
        let text: String = (1..=lines).map(|i| input_line(i, model(i))).collect();
        std::fs::write(&input, text).unwrap();
        Self {
            output: dir.path().join("out.jsonl"),
            summary: dir.path().join("summary.json"),
            dir,
            manifest,
            input,
        }
    }

    fn slow(lines: usize) -> Self {
        Self::new(lines, |_| "slow")
    }

    fn partial(&self) -> PathBuf {
        partial_of(&self.output)
    }

    /// `switchyard run` on this batch plus `extra` (two runs at a time
    /// unless `extra` says otherwise).
    fn cmd(&self, extra: &[&str]) -> Command {
        self.cmd_to(&self.summary, extra)
    }

    /// [`Self::cmd`] with the summary JSON written to `summary`.
    fn cmd_to(&self, summary: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(switchyard_bin());
        cmd.arg("run")
            .arg(&self.manifest)
            .arg("--input")
            .arg(&self.input)
            .arg("--output")
            .arg(&self.output)
            .arg("--summary-json")
            .arg(summary)
            .args(extra)
            .env("SWITCHYARD_CACHE_DIR", cache_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !extra.contains(&"--concurrency") {
            cmd.args(["--concurrency", "2"]);
        }
        cmd
    }

    fn run(&self, extra: &[&str]) -> (i32, String) {
        code_and_stderr(self.cmd(extra).output().unwrap())
    }

    fn start(&self, extra: &[&str]) -> Child {
        self.cmd(extra).spawn().unwrap()
    }

    fn input_ids(&self) -> Vec<String> {
        std::fs::read_to_string(&self.input)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// The finished output: one record per input line, in input order,
    /// ids and lines matching; the summary JSON counts every one of them.
    fn assert_complete(&self) -> Vec<Value> {
        assert!(
            !self.partial().exists(),
            "the .partial is gone once complete"
        );
        let records = records(&self.output);
        let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            self.input_ids(),
            "one record per input line, in input order"
        );
        let lines: Vec<u64> = records
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, (1..=ids.len() as u64).collect::<Vec<_>>());
        let summary = self.summary_json();
        assert_eq!(summary["runs"], ids.len() as u64, "{summary}");
        assert_eq!(summary["complete"], true);
        let cost: u64 = records
            .iter()
            .map(|r| r["cost_pusd"].as_u64().unwrap())
            .sum();
        assert!(cost > 0);
        assert_eq!(
            summary["cost_pusd"], cost,
            "the summary's cost is the records' sum"
        );
        let ok = records.iter().filter(|r| r["ok"] == true).count();
        assert_eq!(summary["ok"], ok as u64);
        let calls: u64 = records
            .iter()
            .map(|r| r["ledger"].as_array().unwrap().len() as u64)
            .sum();
        assert_eq!(summary["totals"]["calls"], calls);
        assert_eq!(summary["nodes"]["w"]["invocations"], ids.len() as u64);
        records
    }

    fn summary_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.summary).unwrap()).unwrap()
    }
}

fn partial_of(output: &Path) -> PathBuf {
    let mut p = output.as_os_str().to_owned();
    p.push(".partial");
    p.into()
}

/// One compile cache for every run of this file.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("resume-cache")
}

fn code_and_stderr(out: Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every line of `path`, each a complete JSON record.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "ends with a complete record"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).expect("every line a JSON record"))
        .collect()
}

/// Complete lines in `path` (0 if it does not exist yet).
fn complete_lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Polls until `path` exists and holds at least `n` complete lines.
fn wait_for_lines(child: &mut Child, path: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(path.exists() && complete_lines(path) >= n) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "switchyard exited ({status}) before {} had {n} lines",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never reached {n} lines",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {name}");
}

/// Waits for `child` to exit within `limit`; returns its status and stderr.
fn wait_within(mut child: Child, limit: Duration) -> (ExitStatus, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("switchyard did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `--resume` command `switchyard` printed, run through `sh`.
fn run_printed_resume(stderr: &str) -> (i32, String) {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with("--resume") && l.contains(" run "))
        .unwrap_or_else(|| panic!("no resume command in:\n{stderr}"));
    code_and_stderr(
        Command::new("sh")
            .args(["-c", line])
            .env("SWITCHYARD_CACHE_DIR", cache_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

#[test]
fn resume_after_sigkill_at_any_point_loses_and_duplicates_nothing() {
    for at in [0, 7, LINES * 3 / 4] {
        let b = Batch::slow(LINES);
        let mut child = b.start(&[]);
        wait_for_lines(&mut child, &b.partial(), at);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (code, err) = b.run(&["--resume"]);
        assert_eq!(code, 0, "after a kill at {at}: {err}");
        assert!(
            err.contains(&format!("resuming {}", b.partial().display())),
            "{err}"
        );
        b.assert_complete();
        let summary = b.summary_json();
        assert!(
            summary["resumed"].as_u64().unwrap() >= at as u64,
            "{summary}"
        );
        // Done is done: resuming again has nothing to do and changes nothing.
        let before = std::fs::read(&b.output).unwrap();
        let (code, err) = b.run(&["--resume"]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("nothing to do"), "{err}");
        assert_eq!(std::fs::read(&b.output).unwrap(), before);
    }
}

#[test]
fn resume_after_sigterm_or_sigint_exits_130_with_summary_and_the_command() {
    for (sig, at) in [("TERM", 0), ("INT", 9), ("TERM", LINES * 3 / 4)] {
        let b = Batch::slow(LINES);
        let mut child = b.start(&["--grace-ms", "20000"]);
        wait_for_lines(&mut child, &b.partial(), at);
        signal(&child, sig);
        // Runs in flight take 50 ms: far within the grace period.
        let (status, err) = wait_within(child, Duration::from_secs(15));
        assert_eq!(status.code(), Some(130), "SIG{sig} at {at}: {err}");
        assert!(err.contains(&format!("SIG{sig}: stopping")), "{err}");
        assert!(
            err.contains("stopped early: resume: "),
            "the summary so far: {err}"
        );
        assert!(!err.contains("cancelling"), "drained, not cancelled: {err}");
        let kept = records(&b.partial());
        assert!(
            kept.len() >= at && kept.len() < LINES,
            "{} records",
            kept.len()
        );
        let ids: Vec<&str> = kept.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            b.input_ids()[..kept.len()],
            "a drained partial is a prefix"
        );
        let summary = b.summary_json();
        assert_eq!(summary["complete"], false);
        assert_eq!(
            summary["runs"],
            kept.len() as u64,
            "the summary so far counts what is written"
        );
        let (code, err) = run_printed_resume(&err);
        assert_eq!(code, 0, "{err}");
        b.assert_complete();
        assert_eq!(b.summary_json()["resumed"], kept.len() as u64);
    }
}

#[test]
fn resume_fills_the_gaps_a_cancel_leaves_in_input_order() {
    // Line 3 is stuck for a minute; the others take 50 ms.
    let b = Batch::new(24, |i| if i == 3 { "stuck" } else { "slow" });
    let mut child = b.start(&["--concurrency", "4", "--grace-ms", "2000"]);
    wait_for_lines(&mut child, &b.partial(), 2);
    let sent = Instant::now();
    signal(&child, "TERM");
    let (status, err) = wait_within(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "cancelled after the grace period"
    );
    assert!(err.contains("grace period over: cancelling"), "{err}");
    let kept: Vec<u64> = records(&b.partial())
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(kept[..2], [1, 2]);
    assert!(!kept.contains(&3), "line 3 was cancelled: {kept:?}");
    assert!(
        kept.len() > 2,
        "runs that finished after the gap are kept: {kept:?}"
    );
    assert!(
        kept.windows(2).all(|w| w[0] < w[1]),
        "still in input order: {kept:?}"
    );

    // The stuck upstream recovers; the resume runs line 3 and whatever
    // else is missing, and the output comes out in input order.
    std::fs::write(&b.manifest, manifest_text(50)).unwrap();
    let (code, err) = b.run(&["--resume"]);
    assert_eq!(code, 0, "{err}");
    b.assert_complete();
    assert_eq!(b.summary_json()["resumed"], kept.len() as u64);
}

#[test]
fn resume_cuts_a_torn_last_line_and_runs_it_again() {
    let b = Batch::slow(20);
    let (code, err) = b.run(&[]);
    assert_eq!(code, 0, "{err}");
    let full = std::fs::read_to_string(&b.output).unwrap();
    let full_lines: Vec<&str> = full.split_inclusive('\n').collect();
    // A partial of 8 records and half of the 9th, as a crash mid-write leaves.
    let torn = format!(
        "{}{}",
        full_lines[..8].concat(),
        &full_lines[8][..full_lines[8].len() / 2]
    );
    std::fs::remove_file(&b.output).unwrap();
    std::fs::write(b.partial(), &torn).unwrap();
    let (code, err) = b.run(&["--resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("8 records kept (a torn last line of"), "{err}");
    let records = b.assert_complete();
    assert_eq!(b.summary_json()["resumed"], 8);
    assert_eq!(records[8]["id"], "t009");
    let out = std::fs::read_to_string(&b.output).unwrap();
    assert!(
        out.starts_with(&full_lines[..8].concat()),
        "kept records are kept byte for byte"
    );
}

#[test]
fn run_refuses_an_existing_partial_without_resume_or_force() {
    let b = Batch::slow(12);
    let (code, err) = b.run(&[]);
    assert_eq!(code, 0, "{err}");
    let full = std::fs::read_to_string(&b.output).unwrap();
    let first5: String = full.split_inclusive('\n').take(5).collect();
    std::fs::remove_file(&b.output).unwrap();
    std::fs::write(b.partial(), &first5).unwrap();

    let (code, err) = b.run(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&b.partial().display().to_string()), "{err}");
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(b.partial()).unwrap(),
        first5,
        "untouched"
    );
    assert!(!b.output.exists());

    let (code, err) = b.run(&["--resume", "--force"]);
    assert_eq!(code, 2, "contradictory flags are a usage error: {err}");

    let (code, err) = b.run(&["--force"]);
    assert_eq!(code, 0, "{err}");
    b.assert_complete();
    assert_eq!(b.summary_json()["resumed"], 0, "started over");
}

#[test]
fn resume_refuses_a_partial_written_for_another_input() {
    let b = Batch::slow(6);
    let (code, err) = b.run(&[]);
    assert_eq!(code, 0, "{err}");
    std::fs::rename(&b.output, b.partial()).unwrap();
    let before = std::fs::read(b.partial()).unwrap();
    // Same line count, other ids.
    let other: String = (1..=6)
        .map(|i| input_line(i, "slow").replace("\"t0", "\"u0"))
        .collect();
    std::fs::write(&b.input, other).unwrap();
    let (code, err) = b.run(&["--resume"]);
    assert_eq!(code, 1, "{err}");
    let partial = b.partial().display().to_string();
    assert!(
        err.contains(&format!(
            "{partial}:1: record `t001` claims input line 1, whose id is `u001`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{partial} was written for a different input; use --force to start over"
        )),
        "{err}"
    );
    assert_eq!(std::fs::read(b.partial()).unwrap(), before, "untouched");
}

#[test]
fn run_refuses_bad_output_paths_before_any_run() {
    let b = Batch::slow(4);
    // --output is a directory.
    let dir = b.dir.path().join("results");
    std::fs::create_dir(&dir).unwrap();
    let out = Command::new(switchyard_bin())
        .arg("run")
        .arg(&b.manifest)
        .arg("-i")
        .arg(&b.input)
        .arg("-o")
        .arg(&dir)
        .env("SWITCHYARD_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let (code, err) = code_and_stderr(out);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("--output {}: is a directory", dir.display())),
        "{err}"
    );
    assert!(!partial_of(&dir).exists(), "nothing created");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    // --summary-json in a directory that does not exist: refused before
    // the manifest is even read (this one does not exist either).
    let missing = b.dir.path().join("no/such/dir/summary.json");
    let out = Command::new(switchyard_bin())
        .arg("run")
        .arg(b.dir.path().join("absent.toml"))
        .arg("-i")
        .arg(&b.input)
        .arg("-o")
        .arg(&b.output)
        .arg("--summary-json")
        .arg(&missing)
        .env("SWITCHYARD_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let (code, err) = code_and_stderr(out);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("--summary-json {}: directory", missing.display()))
            && err.contains("does not exist"),
        "{err}"
    );
    assert!(
        !b.partial().exists() && !b.output.exists(),
        "nothing created"
    );

    // --resume with records on stdout.
    let out = Command::new(switchyard_bin())
        .arg("run")
        .arg(&b.manifest)
        .args(["-i", "-", "--resume"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (code, err) = code_and_stderr(out);
    assert_eq!(code, 1);
    assert!(err.contains("--resume needs --output FILE"), "{err}");
}

#[test]
fn summary_json_that_cannot_be_written_after_a_complete_batch_is_a_warning() {
    // /dev/full passes the early check (it exists and opens for writing)
    // and refuses the write itself: ENOSPC.
    let b = Batch::slow(5);
    let mut cmd = b.cmd_to(Path::new("/dev/full"), &[]);
    let (code, err) = code_and_stderr(cmd.output().unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: cannot write the summary to /dev/full (--summary-json)"),
        "{err}"
    );
    assert_eq!(records(&b.output).len(), 5);
}

#[test]
fn run_stops_at_a_full_disk_with_complete_records_and_resumes() {
    let b = Batch::slow(30);
    // A run to completion first: warms the compile cache, which a file-size
    // limit would refuse to write, and measures a record.
    let (code, err) = b.run(&[]);
    assert_eq!(code, 0, "{err}");
    let size = std::fs::metadata(&b.output).unwrap().len();
    std::fs::remove_file(&b.output).unwrap();
    // RLIMIT_FSIZE at a third of the output (in 512-byte blocks): writes
    // past it fail with EFBIG, the way a full disk fails them with ENOSPC.
    let blocks = size / 3 / 512;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\""
        ))
        .arg(switchyard_bin());
    let inner = b.cmd(&[]);
    cmd.args(inner.get_args())
        .env("SWITCHYARD_CACHE_DIR", cache_dir());
    let (code, err) = code_and_stderr(cmd.output().unwrap());
    assert_eq!(code, 1, "{err}");
    let partial = b.partial().display().to_string();
    assert!(
        err.contains("cannot write the record of input line"),
        "{err}"
    );
    assert!(err.contains(&format!("to {partial}:")), "{err}");
    assert!(err.contains("ends at its last complete record"), "{err}");
    let kept = records(&b.partial());
    assert!(
        !kept.is_empty() && kept.len() < 30,
        "{} records",
        kept.len()
    );
    let (code, err) = b.run(&["--resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("{} records kept, ", kept.len())),
        "no torn line: {err}"
    );
    b.assert_complete();
}

#[test]
fn batch_dispatch_slows_down_while_the_upstream_is_down() {
    let b = Batch::new(40, |_| "down");
    let (code, err) = b.run(&["--concurrency", "8"]);
    assert_eq!(code, 0, "a batch of failed runs is still complete: {err}");
    let records = records(&b.output);
    assert_eq!(records.len(), 40);
    assert!(
        records.iter().all(|r| r["error"]["kind"] == "model"),
        "{:?}",
        records[0]
    );
    let s = b.summary_json();
    assert_eq!(s["dispatch"]["concurrency"], 8, "{s}");
    assert_eq!(s["dispatch"]["lowest"], 1, "{s}");
    assert!(s["dispatch"]["slowed"].as_u64().unwrap() >= 3, "{s}");
    assert!(err.contains("dispatch: slowed"), "{err}");
}
