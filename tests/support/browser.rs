//! A real headless Chromium for tests of HTML pages (the comparison report,
//! a served dashboard): [`Visit`] loads a `file://` or `http://` URL once,
//! lets the page's scripts run for a virtual-time budget, and returns the
//! rendered DOM, what the page logged to its console, and the URLs the page
//! itself requested; it can also take a screenshot. [`Page::elements`]
//! finds elements of the rendered DOM by attribute, for assertions.
//!
//! Nothing leaves the machine: Chromium is pointed at a proxy on a closed
//! loopback port, so every request except to 127.0.0.1 / localhost fails
//! (and is still listed in [`Page::requests`]). Each visit has its own
//! profile directory, so visits can run in parallel.
//!
//! What Chromium prints, checked on Debian's `chromium` 156 with
//! `--enable-logging=stderr --v=0`: every console message of a web page,
//! whatever its level, is one `INFO` line —
//! `[pid:tid:MMDD/HHMMSS.us:INFO:CONSOLE:7] "text", source: URL (7)`
//! (older versions: `INFO:CONSOLE(7)]`), continued on the next lines when
//! the text has newlines. `console.error("x")` and `console.log("x")` are
//! indistinguishable there; an uncaught exception or unhandled rejection
//! is logged as `"Uncaught Error: …"` / `"Uncaught (in promise) …"`, and a
//! blocked request as a CORS message. Failed loads of resources are not
//! logged at all; [`Page::requests`] (from Chromium's net log) lists them.
//! So [`Page::errors`] are the uncaught ones, and a page that must log
//! nothing is checked with [`Page::assert_quiet`].
//!
//! The binary is `$SWITCHYARD_CHROMIUM`, or the first of `chromium`,
//! `chromium-browser`, `google-chrome-stable`, `google-chrome`,
//! `headless_shell` on `PATH` (as `xtask/guest-build/src/browser.rs` looks
//! for it; `cargo xtask test` installs Debian's `chromium` when root). When
//! none is found, a root process installs the `chromium` package with
//! apt-get; otherwise the test fails, naming the package.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

/// The Debian package with headless Chromium.
pub const PACKAGE: &str = "chromium";

const BINARIES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome-stable",
    "google-chrome",
    "headless_shell",
];

const ENV: &str = "SWITCHYARD_CHROMIUM";

fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    BINARIES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

fn install() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Err("not root, so not installing it".into());
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    eprintln!("browser: installing {PACKAGE} with apt-get");
    if apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "--no-install-recommends", PACKAGE])
    {
        Ok(())
    } else {
        Err(format!("apt-get install -y {PACKAGE} failed"))
    }
}

/// The Chromium binary; installed (as root) on first use when missing.
/// Panics, naming the package to install, when there is none.
pub fn chromium() -> PathBuf {
    static ONCE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = ONCE.get_or_init(|| {
        if let Some(p) = find() {
            return Ok(p);
        }
        let why = install().err().unwrap_or_default();
        find().ok_or(why)
    });
    match found {
        Ok(p) => p.clone(),
        Err(why) => panic!(
            "this test needs headless Chromium and none was found (tried ${ENV}, then {} on PATH; {why}): \
             install Debian's `{PACKAGE}` package (apt-get install -y {PACKAGE}), or run `cargo xtask test` \
             as root, which installs it",
            BINARIES.join(", ")
        ),
    }
}

/// The `file://` URL of a local file (made absolute).
pub fn file_url(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut url = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// One page load in headless Chromium.
#[derive(Debug, Clone)]
pub struct Visit {
    url: String,
    window: (u32, u32),
    screenshot: Option<PathBuf>,
    budget_ms: u32,
    timeout: Duration,
}

impl Visit {
    /// Loads `url` (`file://…` or `http://127.0.0.1:…`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            window: (1280, 900),
            screenshot: None,
            budget_ms: 3000,
            timeout: Duration::from_secs(60),
        }
    }

    /// Loads a local file.
    pub fn file(path: &Path) -> Self {
        Self::new(file_url(path))
    }

    /// Also writes a PNG screenshot of the window to `path`.
    pub fn screenshot(mut self, path: impl Into<PathBuf>) -> Self {
        self.screenshot = Some(path.into());
        self
    }

    /// The window size (default 1280×900).
    pub fn window(mut self, width: u32, height: u32) -> Self {
        self.window = (width, height);
        self
    }

    /// Virtual time the page's timers and fetches get before the DOM is
    /// taken (default 3000 ms; virtual, so usually much less real time).
    pub fn budget_ms(mut self, ms: u32) -> Self {
        self.budget_ms = ms;
        self
    }

    /// Runs Chromium, blocking this thread (at most the timeout, 60 s).
    pub fn run(&self) -> anyhow::Result<Page> {
        let bin = chromium();
        let dir = tempfile::tempdir().context("temporary directory for Chromium")?;
        let (out, err, net) = (
            dir.path().join("dom.html"),
            dir.path().join("stderr.txt"),
            dir.path().join("netlog.json"),
        );
        let mut cmd = Command::new(&bin);
        cmd.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            // Every request but loopback goes to a closed port: offline.
            "--proxy-server=http://127.0.0.1:9",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--log-net-log={}", net.display()))
        .arg(format!("--virtual-time-budget={}", self.budget_ms))
        .arg(format!("--window-size={},{}", self.window.0, self.window.1));
        if let Some(shot) = &self.screenshot {
            cmd.arg(format!("--screenshot={}", shot.display()));
        }
        cmd.arg("--dump-dom")
            .arg(&self.url)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not finish loading {} within {:?}; its stderr:\n{}",
                    bin.display(),
                    self.url,
                    self.timeout,
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&std::fs::read(&err)?).into_owned();
        let dom = String::from_utf8_lossy(&std::fs::read(&out)?).into_owned();
        if !status.success() || dom.trim().is_empty() {
            bail!(
                "{} failed on {} ({status}); its stderr:\n{stderr}",
                bin.display(),
                self.url
            );
        }
        if let Some(shot) = &self.screenshot {
            anyhow::ensure!(
                shot.exists(),
                "Chromium wrote no screenshot to {}; its stderr:\n{stderr}",
                shot.display()
            );
        }
        let requests = page_requests(&net)
            .with_context(|| format!("reading Chromium's net log {}", net.display()))?;
        Ok(Page {
            console: console_messages(&stderr),
            dom,
            requests,
            stderr,
            elapsed,
        })
    }

    /// [`run`](Self::run) on a blocking thread, for async tests (a page
    /// served by this process keeps being served meanwhile).
    pub async fn run_async(self) -> anyhow::Result<Page> {
        tokio::task::spawn_blocking(move || self.run()).await?
    }
}

/// A console message as Chromium logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMessage {
    /// The message text (for an exception, `Uncaught …`).
    pub text: String,
    /// The URL of the script that logged it.
    pub source: String,
    /// The line in it (0 when unknown).
    pub line: u32,
}

impl ConsoleMessage {
    /// An uncaught exception or unhandled promise rejection.
    pub fn is_uncaught(&self) -> bool {
        self.text.starts_with("Uncaught")
    }
}

/// A page as Chromium rendered it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The serialized DOM after the page's scripts ran.
    pub dom: String,
    /// Everything the page logged to its console, in order.
    pub console: Vec<ConsoleMessage>,
    /// URLs the page requested over the network (subresources, `fetch`,
    /// the favicon of an `http` page; not the navigation itself, not
    /// Chromium's own traffic). A `file://` page's local files are not
    /// listed.
    pub requests: Vec<String>,
    /// Chromium's whole stderr.
    pub stderr: String,
    /// Wall time of the Chromium run.
    pub elapsed: Duration,
}

impl Page {
    /// Uncaught exceptions and unhandled rejections (`console.error` is
    /// not distinguishable from `console.log` in Chromium's log: see the
    /// module doc).
    pub fn errors(&self) -> Vec<&ConsoleMessage> {
        self.console.iter().filter(|m| m.is_uncaught()).collect()
    }

    /// Requests to anything but loopback.
    pub fn external_requests(&self) -> Vec<&str> {
        self.requests
            .iter()
            .map(String::as_str)
            .filter(|u| {
                let rest = u.split_once("://").map_or("", |(_, r)| r);
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                let host = if host.starts_with('[') {
                    host.split_inclusive(']').next().unwrap_or(host)
                } else {
                    host.split(':').next().unwrap_or(host)
                };
                !(host == "localhost" || host == "[::1]" || host.starts_with("127."))
            })
            .collect()
    }

    /// What keeps the page from being quiet: each console message (so
    /// any error of any kind) and each request outside loopback.
    pub fn noise(&self) -> Vec<String> {
        let logged = self
            .console
            .iter()
            .map(|m| format!("logged {:?} at {}:{}", m.text, m.source, m.line));
        let fetched = self
            .external_requests()
            .into_iter()
            .map(|u| format!("requested {u}"));
        logged.chain(fetched).collect()
    }

    /// Panics unless the page logged nothing at all to its console and
    /// requested nothing outside loopback ([`noise`](Self::noise)).
    pub fn assert_quiet(&self) {
        let noise = self.noise();
        assert!(
            noise.is_empty(),
            "the page is not quiet:\n{}",
            noise.join("\n")
        );
    }

    /// The text of the `<body>`, tags removed and entities decoded.
    pub fn text(&self) -> String {
        self.elements_by_tag("body")
            .first()
            .map_or_else(String::new, Element::text)
    }

    /// Every element that has attribute `attr`, in document order.
    pub fn elements(&self, attr: &str) -> Vec<Element> {
        elements(&self.dom, |t| t.attrs.contains_key(attr))
    }

    /// Every `<tag>` element, in document order.
    pub fn elements_by_tag(&self, tag: &str) -> Vec<Element> {
        let tag = tag.to_ascii_lowercase();
        elements(&self.dom, |t| t.name == tag)
    }

    /// The one element whose `attr` is `value`; panics if there is not
    /// exactly one.
    pub fn element(&self, attr: &str, value: &str) -> Element {
        let found: Vec<Element> = elements(&self.dom, |t| {
            t.attrs.get(attr).map(String::as_str) == Some(value)
        });
        assert_eq!(
            found.len(),
            1,
            "expected one element with {attr}=\"{value}\", found {}",
            found.len()
        );
        found.into_iter().next().unwrap()
    }
}

/// An element of the rendered DOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Tag name, lowercase.
    pub tag: String,
    /// Attributes, values decoded.
    pub attrs: BTreeMap<String, String>,
    /// The HTML between its start and end tags.
    pub inner_html: String,
}

impl Element {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// Its text, tags removed (script and style content skipped), entities
    /// decoded, a space between blocks and cells (not inside inline
    /// elements such as `<strong>`), runs of whitespace collapsed to one.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let mut raw: Option<String> = None;
        for token in tokens(&self.inner_html) {
            match token {
                Token::Start(t) if t.name == "script" || t.name == "style" => {
                    raw = Some(t.name);
                }
                Token::End(name) if raw.as_deref() == Some(name.as_str()) => raw = None,
                Token::Text(s) if raw.is_none() => text.push_str(&decode(s)),
                Token::Start(Tag { name, .. }) | Token::End(name)
                    if !INLINE.contains(&name.as_str()) =>
                {
                    text.push(' ');
                }
                _ => {}
            }
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Elements inside this one that have attribute `attr`.
    pub fn elements(&self, attr: &str) -> Vec<Element> {
        elements(&self.inner_html, |t| t.attrs.contains_key(attr))
    }
}

/// Parses Chromium's stderr into console messages (see the module doc).
pub fn console_messages(stderr: &str) -> Vec<ConsoleMessage> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    let finish = |body: &str| -> ConsoleMessage {
        // body: `"text", source: URL (LINE)`
        let body = body.trim_end();
        let (head, line) = match body.rfind(" (") {
            Some(i) if body.ends_with(')') => {
                (&body[..i], body[i + 2..body.len() - 1].parse().ok())
            }
            _ => (body, None),
        };
        let (text, source) = match head.rfind("\", source: ") {
            Some(i) => (&head[..i], &head[i + "\", source: ".len()..]),
            None => (head, ""),
        };
        ConsoleMessage {
            text: text.strip_prefix('"').unwrap_or(text).to_string(),
            source: source.to_string(),
            line: line.unwrap_or(0),
        }
    };
    let complete = |body: &str| {
        let b = body.trim_end();
        b.ends_with(')') && b.contains("\", source: ")
    };
    for line in stderr.lines() {
        let console_start = line.starts_with('[')
            && line
                .find(']')
                .is_some_and(|end| line[..end].contains(":CONSOLE"));
        if console_start {
            if let Some(body) = open.take() {
                out.push(finish(&body));
            }
            let body = &line[line.find("] ").map_or(line.len(), |i| i + 2)..];
            if complete(body) {
                out.push(finish(body));
            } else {
                open = Some(body.to_string());
            }
        } else if let Some(body) = open.as_mut() {
            // A message with newlines goes on over the next lines.
            body.push('\n');
            body.push_str(line);
            if complete(body) {
                out.push(finish(body));
                open = None;
            }
        }
    }
    if let Some(body) = open {
        out.push(finish(&body));
    }
    out
}

/// URLs of the requests the page made, from Chromium's net log.
fn page_requests(netlog: &Path) -> anyhow::Result<Vec<String>> {
    let log: Value = serde_json::from_slice(&std::fs::read(netlog)?)?;
    let Some(start_job) = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64()
    else {
        bail!("no URL_REQUEST_START_JOB event type in the net log's constants");
    };
    let mut urls = Vec::new();
    for e in log["events"].as_array().into_iter().flatten() {
        let params = &e["params"];
        // The browser's own requests and navigations have no origin.
        let by_page = params["initiator"]
            .as_str()
            .is_some_and(|i| i != "not an origin");
        if e["type"].as_u64() == Some(start_job) && by_page {
            if let Some(url) = params["url"].as_str() {
                urls.push(url.to_string());
            }
        }
    }
    Ok(urls)
}

#[derive(Debug)]
struct Tag {
    name: String,
    attrs: BTreeMap<String, String>,
}

#[derive(Debug)]
enum Token<'a> {
    Start(Tag),
    End(String),
    Text(&'a str),
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements that do not separate words.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q",
    "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
];

/// Tokens of serialized HTML with their byte spans (start, end).
fn spanned_tokens(html: &str) -> Vec<(usize, usize, Token<'_>)> {
    let mut out = Vec::new();
    let b = html.as_bytes();
    let mut i = 0;
    let mut raw_until: Option<String> = None;
    while i < b.len() {
        if let Some(close) = &raw_until {
            // Script and style content is text up to its end tag.
            let end = html[i..]
                .to_ascii_lowercase()
                .find(close.as_str())
                .map_or(b.len(), |k| i + k);
            if end > i {
                out.push((i, end, Token::Text(&html[i..end])));
            }
            i = end;
            raw_until = None;
            continue;
        }
        if b[i] != b'<' {
            let end = html[i..].find('<').map_or(b.len(), |k| i + k);
            out.push((i, end, Token::Text(&html[i..end])));
            i = end;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i = html[i..].find("-->").map_or(b.len(), |k| i + k + 3);
            continue;
        }
        if html[i..].starts_with("<!") || html[i..].starts_with("<?") {
            i = html[i..].find('>').map_or(b.len(), |k| i + k + 1);
            continue;
        }
        let Some((end, tag, closing)) = tag_at(html, i) else {
            out.push((i, i + 1, Token::Text(&html[i..i + 1])));
            i += 1;
            continue;
        };
        if closing {
            out.push((i, end, Token::End(tag.name)));
        } else {
            if tag.name == "script" || tag.name == "style" {
                raw_until = Some(format!("</{}", tag.name));
            }
            out.push((i, end, Token::Start(tag)));
        }
        i = end;
    }
    out
}

fn tokens(html: &str) -> impl Iterator<Item = Token<'_>> {
    spanned_tokens(html).into_iter().map(|(_, _, t)| t)
}

/// The tag starting at `html[i] == '<'`: its end, the tag, and whether it
/// is an end tag.
fn tag_at(html: &str, i: usize) -> Option<(usize, Tag, bool)> {
    let b = html.as_bytes();
    let mut j = i + 1;
    let closing = b.get(j) == Some(&b'/');
    if closing {
        j += 1;
    }
    let name_start = j;
    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' && b[j] != b'/' {
        j += 1;
    }
    if j == name_start || !b[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = html[name_start..j].to_ascii_lowercase();
    let mut attrs = BTreeMap::new();
    loop {
        while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
            j += 1;
        }
        if j >= b.len() {
            return None;
        }
        if b[j] == b'>' {
            return Some((j + 1, Tag { name, attrs }, closing));
        }
        let key_start = j;
        while j < b.len() && !b[j].is_ascii_whitespace() && !b"=>/".contains(&b[j]) {
            j += 1;
        }
        let key = html[key_start..j].to_ascii_lowercase();
        let mut value = String::new();
        if b.get(j) == Some(&b'=') {
            j += 1;
            match b.get(j) {
                Some(&q @ (b'"' | b'\'')) => {
                    let end = html[j + 1..].find(q as char)? + j + 1;
                    value = decode(&html[j + 1..end]);
                    j = end + 1;
                }
                _ => {
                    let start = j;
                    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                    value = decode(&html[start..j]);
                }
            }
        }
        attrs.insert(key, value);
    }
}

/// Elements of `html` whose start tag satisfies `want`.
fn elements(html: &str, want: impl Fn(&Tag) -> bool) -> Vec<Element> {
    let tokens = spanned_tokens(html);
    let mut out = Vec::new();
    for (k, (_, start_end, token)) in tokens.iter().enumerate() {
        let Token::Start(tag) = token else { continue };
        if !want(tag) {
            continue;
        }
        let mut inner = String::new();
        if !VOID.contains(&tag.name.as_str()) {
            let mut depth = 0usize;
            let end = tokens[k + 1..].iter().find_map(|(s, _, t)| match t {
                Token::Start(t) if t.name == tag.name => {
                    depth += 1;
                    None
                }
                Token::End(n) if *n == tag.name => {
                    if depth == 0 {
                        Some(*s)
                    } else {
                        depth -= 1;
                        None
                    }
                }
                _ => None,
            });
            inner = html[*start_end..end.unwrap_or(html.len())].to_string();
        }
        out.push(Element {
            tag: tag.name.clone(),
            attrs: tag.attrs.clone(),
            inner_html: inner,
        });
    }
    out
}

/// Decodes character references (the named ones a serializer writes, and
/// numeric ones).
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let ch = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
