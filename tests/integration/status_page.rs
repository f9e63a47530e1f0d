//! The live status page of `switchyard serve` (`GET /`, `GET /status`,
//! `GET /status/graph.svg`) on the support-triage flow, served on
//! 127.0.0.1 with an admin token:
//! - without the token only the health view is answered, a wrong token is
//!   refused, the graph needs the token;
//! - with it, every node's figures since the start equal the ones counted
//!   from the run records the service answered (invocations, exact cost,
//!   router branches), and the swap history lists the swaps tried (who,
//!   version, digest, refusal reason);
//! - no ticket text and no e-mail address from the tickets appears in any
//!   answer or on the rendered page;
//! - a real headless Chromium renders the page quietly with every node in
//!   the graph coloured by health, and the same page load shows the
//!   figures change after runs are sent: a relay in front of the service
//!   holds the page's second poll until the runs are answered (Chromium's
//!   virtual time stands still while a request is pending), so the page
//!   sees 0 runs, then all of them, with no sleep.
//!
//! `SWITCHYARD_SCREENSHOTS=1 cargo test -p switchyard-tests --test
//! integration -- status_page` also writes `docs/img/status-page.png`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use switchyard_tests::browser::Visit;
use switchyard_tests::{
    engine, fixture, manifest, root, ticket_emails, tickets, triage_flow, TestServer,
};

const TOKEN: &str = "status-page-admin-token";

/// The triage flow with a run budget and a budget on the frontier worker,
/// loaded on sim models.
async fn server() -> (tempfile::TempDir, TestServer) {
    let text = triage_flow()
        .replacen(
            "[pipeline]\n",
            "[pipeline]\nbudget = { tokens = 20000, usd = 0.05 }\n",
            1,
        )
        .replacen(
            "[nodes.answer-frontier]\n",
            "[nodes.answer-frontier]\nbudget = { usd = 0.02 }\n",
            1,
        );
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), &text).expect("the variant is valid");
    let hub = switchyard::models::ModelHub::from_env(&m.models).unwrap();
    let p = switchyard::pipeline::Pipeline::load(&engine(None), m)
        .await
        .unwrap()
        .bind(hub);
    let server = TestServer::start(p, Some(TOKEN)).await;
    (dir, server)
}

/// The first `n` tickets as run inputs.
fn inputs(n: usize) -> Vec<Value> {
    String::from_utf8(tickets(n))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

/// Texts of the tickets no answer may carry: subjects and e-mail
/// addresses.
fn secrets(n: usize) -> Vec<String> {
    let mut out: Vec<String> = inputs(n)
        .iter()
        .map(|t| t["input"]["subject"].as_str().unwrap().to_string())
        .filter(|s| s.len() > 12)
        .collect();
    assert!(out.len() > n / 2, "the tickets have subjects: {out:?}");
    out.extend(ticket_emails(n));
    out
}

/// Sends the first `n` tickets, 6 at a time; their run records.
async fn send(client: &reqwest::Client, url: &str, n: usize) -> Vec<Value> {
    use futures::StreamExt;
    futures::stream::iter(inputs(n))
        .map(|t| {
            let client = client.clone();
            let url = url.to_string();
            async move {
                let r = client
                    .post(format!("{url}/v1/runs"))
                    .json(&json!({"id": t["id"], "input": t["input"]}))
                    .send()
                    .await
                    .unwrap();
                r.json::<Value>().await.unwrap()
            }
        })
        .buffer_unordered(6)
        .collect()
        .await
}

async fn status(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = client.get(format!("{url}/status"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    if r.status().is_success() {
        assert_eq!(
            r.headers()["cache-control"],
            "no-store",
            "status answers are never cached"
        );
    }
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn put(client: &reqwest::Client, url: &str, node: &str, actor: &str, body: Vec<u8>) -> u16 {
    client
        .put(format!("{url}/admin/nodes/{node}"))
        .bearer_auth(TOKEN)
        .header("x-switchyard-actor", actor)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Per node: invocations, exact cost; per router: branch counts, counted
/// from run records.
fn counted(
    records: &[Value],
) -> (
    BTreeMap<String, u64>,
    BTreeMap<String, u64>,
    BTreeMap<String, u64>,
) {
    let (mut invocations, mut cost, mut branches) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for r in records {
        for step in r["trace"].as_array().unwrap() {
            *invocations
                .entry(step["node"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        for e in r["ledger"].as_array().unwrap() {
            *cost
                .entry(e["node"].as_str().unwrap().to_string())
                .or_insert(0) += e["cost_pusd"].as_u64().unwrap();
        }
        for (router, label) in r["routes"].as_object().unwrap() {
            *branches
                .entry(format!("{router}/{}", label.as_str().unwrap()))
                .or_insert(0) += 1;
        }
    }
    (invocations, cost, branches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_shows_health_publicly_and_everything_else_with_the_token() {
    let (_dir, server) = server().await;
    let client = reqwest::Client::new();
    let url = &server.url;

    let (code, public) = status(&client, url, None).await;
    assert_eq!(code, 200);
    assert_eq!(public["view"], "public", "{public}");
    assert_eq!(public["auth"], "token-required");
    assert_eq!(public["health"], "idle");
    assert_eq!(public["pipeline"], "support-triage");
    assert!(
        public.get("nodes").is_none() && public.get("swaps").is_none(),
        "{public}"
    );
    let (code, wrong) = status(&client, url, Some("not-the-token")).await;
    assert_eq!(code, 401, "{wrong}");
    let graph = client
        .get(format!("{url}/status/graph.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(graph.status().as_u16(), 401, "the graph needs the token");

    let page = client.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    for external in ["http://", "https://", " src=", " href=", "url("] {
        assert!(!html.contains(external), "the page links {external}");
    }

    let svg = client
        .get(format!("{url}/status/graph.svg"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the graph is well-formed XML");
    let drawn: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("data-node"))
        .collect();
    let nodes = server
        .live
        .current()
        .nodes()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    for node in &nodes {
        assert!(drawn.contains(&node.as_str()), "{node} is drawn: {drawn:?}");
    }

    let n = 16;
    let records = send(&client, url, n).await;
    let (invocations, cost, branches) = counted(&records);

    // Swaps: the same bytes (unchanged), bytes that are no component
    // (refused), and another judge (swapped), each by a named caller.
    let live_pii = server
        .live
        .current()
        .node("pii-guard")
        .unwrap()
        .spec
        .component
        .file()
        .expect("a file component")
        .to_path_buf();
    let pii = std::fs::read(&live_pii).unwrap();
    assert_eq!(put(&client, url, "pii-guard", "alice", pii).await, 200);
    assert_eq!(
        put(
            &client,
            url,
            "pii-guard",
            "mallory\tforged",
            b"not wasm".to_vec()
        )
        .await,
        422
    );
    let scripted = std::fs::read(fixture("judge_scripted")).unwrap();
    assert_eq!(
        put(&client, url, "factuality", "bob", scripted.clone()).await,
        200
    );

    let (code, full) = status(&client, url, Some(TOKEN)).await;
    assert_eq!(code, 200);
    assert_eq!(full["view"], "full");
    assert_eq!(full["runs"]["total"], n as u64, "{full}");
    assert_eq!(full["runs"]["window"], n as u64);
    let spent: u64 = cost.values().sum();
    assert_eq!(full["runs"]["cost_pusd_total"], spent);
    assert!(["ok", "degraded", "failing"].contains(&full["health"].as_str().unwrap()));
    for node in full["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        assert_eq!(
            node["invocations_total"],
            invocations.get(name).copied().unwrap_or(0),
            "{name}: {node}"
        );
        assert_eq!(
            node["cost_pusd_total"],
            cost.get(name).copied().unwrap_or(0),
            "{name}"
        );
        let health = node["health"].as_str().unwrap();
        if invocations.contains_key(name) {
            assert!(node["p50_ms"].as_f64().unwrap() > 0.0, "{node}");
            assert_ne!(health, "idle", "{node}");
        } else {
            assert_eq!(health, "idle", "{node}");
        }
    }
    let triage = &full["routers"][0];
    assert_eq!(triage["node"], "triage");
    let routed: BTreeMap<String, u64> = triage["branches"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(label, c)| (format!("triage/{label}"), c["total"].as_u64().unwrap()))
        .collect();
    assert_eq!(routed, branches);
    let budgets = full["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 2, "{budgets:?}");
    assert_eq!(budgets[0]["scope"], "run");
    assert_eq!(budgets[0]["tokens_limit"], 20000);
    assert!(budgets[0]["max_run_cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(budgets[1]["scope"], "node answer-frontier");

    let events = full["swaps"]["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["unchanged", "refused", "swapped"], "{events:?}");
    assert_eq!(events[0]["by"], "PUT /admin/nodes/pii-guard by alice");
    assert!(
        events[1]["reason"].as_str().unwrap().len() > 10,
        "{events:?}"
    );
    assert!(
        events[1]["by"]
            .as_str()
            .unwrap()
            .contains("mallory\\tforged"),
        "a caller's name stays one line: {events:?}"
    );
    let swapped = &events[2];
    assert_eq!(swapped["by"], "PUT /admin/nodes/factuality by bob");
    let digest = server
        .live
        .current()
        .node("factuality")
        .unwrap()
        .component
        .load
        .sha256
        .clone();
    assert_eq!(swapped["sha256"], digest);
    assert_eq!(swapped["revision"], 2);
    assert_eq!(swapped["generation"], full["generation"]);
    assert_eq!(
        swapped["version"],
        server
            .live
            .current()
            .node("factuality")
            .unwrap()
            .component
            .description
            .version
    );

    let answers = format!("{public}{full}{svg}{html}");
    for secret in secrets(n) {
        assert!(!answers.contains(&secret), "{secret:?} left the service");
    }
    server.stop().await.unwrap();
}

/// Forwards every request to the service; holds the page's second
/// `GET /status` until `open` turns true, and reports each poll on `seen`
/// once its answer is in hand.
struct Relay {
    target: String,
    client: reqwest::Client,
    polls: AtomicUsize,
    seen: tokio::sync::mpsc::UnboundedSender<usize>,
    open: tokio::sync::watch::Receiver<bool>,
}

async fn relay(State(r): State<Arc<Relay>>, req: Request) -> Response {
    let poll = (req.uri().path() == "/status").then(|| r.polls.fetch_add(1, Ordering::SeqCst) + 1);
    if poll.is_some_and(|n| n >= 2) {
        let mut open = r.open.clone();
        let _ = open.wait_for(|o| *o).await;
    }
    let mut forward = r
        .client
        .get(format!("{}{}", r.target, req.uri()))
        .timeout(Duration::from_secs(30));
    if let Some(auth) = req.headers().get("authorization") {
        forward = forward.header("authorization", auth);
    }
    let answer = forward.send().await.unwrap();
    let status = answer.status();
    let kind = answer.headers().get("content-type").cloned();
    let body = answer.bytes().await.unwrap();
    if let Some(n) = poll {
        let _ = r.seen.send(n);
    }
    let mut out = (
        axum::http::StatusCode::from_u16(status.as_u16()).unwrap(),
        body,
    )
        .into_response();
    if let Some(kind) = kind {
        out.headers_mut()
            .insert("content-type", kind.as_bytes().try_into().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_renders_and_updates_in_a_real_browser() {
    let (_dir, server) = server().await;
    let client = reqwest::Client::new();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let (open, open_rx) = tokio::sync::watch::channel(false);
    let state = Arc::new(Relay {
        target: server.url.clone(),
        client: client.clone(),
        polls: AtomicUsize::new(0),
        seen: seen_tx,
        open: open_rx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(relay).with_state(state);
    let relay_task = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut visit = Visit::new(format!("{relay_url}/#token={TOKEN}")).budget_ms(8000);
    if std::env::var_os("SWITCHYARD_SCREENSHOTS").is_some() {
        let dir = root().join("docs/img");
        std::fs::create_dir_all(&dir).unwrap();
        visit = visit
            .screenshot(dir.join("status-page.png"))
            .window(1280, 2150);
    }
    let page = tokio::spawn(visit.run_async());

    let first = tokio::time::timeout(Duration::from_secs(60), seen.recv())
        .await
        .expect("the page polls /status")
        .unwrap();
    assert_eq!(first, 1);
    let n = 24;
    let records = send(&client, &server.url, n).await;
    let (mut invocations, _, _) = counted(&records);
    let live_factuality = server
        .live
        .current()
        .node("factuality")
        .unwrap()
        .spec
        .component
        .file()
        .expect("a file component")
        .to_path_buf();
    let scripted = std::fs::read(fixture("judge_scripted")).unwrap();
    assert_eq!(
        put(&client, &server.url, "factuality", "carol", scripted).await,
        200
    );
    // The original judge back as a shadow candidate, live against candidate.
    let shadow = client
        .put(format!(
            "{}/admin/nodes/factuality?mode=shadow&percent=100",
            server.url
        ))
        .bearer_auth(TOKEN)
        .body(std::fs::read(&live_factuality).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        shadow.status().as_u16(),
        200,
        "{}",
        shadow.text().await.unwrap()
    );
    for (node, count) in counted(&send(&client, &server.url, 4).await).0 {
        *invocations.entry(node).or_insert(0) += count;
    }
    open.send(true).unwrap();

    let page = page.await.unwrap().unwrap();
    eprintln!("chromium rendered the status page in {:?}", page.elapsed);
    page.assert_quiet();
    let body = &page.elements_by_tag("body")[0];
    let seen_runs: Vec<u64> = body
        .attr("data-runs-seen")
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(
        seen_runs.first(),
        Some(&0),
        "the first poll saw no run: {seen_runs:?}"
    );
    let total = n as u64 + 4;
    assert_eq!(
        seen_runs.last(),
        Some(&total),
        "later polls saw every run: {seen_runs:?}"
    );
    assert_eq!(
        page.element("id", "runs-total").attr("data-value"),
        Some(&*total.to_string())
    );

    let graph = page.element("id", "graph");
    let nodes: Vec<String> = server.live.current().nodes().keys().cloned().collect();
    for node in &nodes {
        let g = graph
            .elements("data-node")
            .into_iter()
            .find(|g| g.attr("data-node") == Some(node.as_str()))
            .unwrap_or_else(|| panic!("{node} is in the graph"));
        let health = g
            .attr("data-health")
            .unwrap_or_else(|| panic!("{node} is coloured"));
        let expect_idle = !invocations.contains_key(node);
        assert_eq!(health == "idle", expect_idle, "{node}: {health}");
        assert!(
            g.text().contains("p50 "),
            "{node}'s figures are filled in: {}",
            g.text()
        );
        let row = page
            .elements("data-invocations-total")
            .into_iter()
            .find(|r| r.attr("data-node") == Some(node.as_str()))
            .unwrap_or_else(|| panic!("{node} has a row"));
        assert_eq!(
            row.attr("data-invocations-total"),
            Some(&*invocations.get(node).copied().unwrap_or(0).to_string()),
            "{node}"
        );
    }
    let swap = page.element("data-swap", "swapped");
    assert!(
        swap.text().contains("factuality") && swap.text().contains("carol"),
        "{}",
        swap.text()
    );
    assert!(page
        .element("data-swap", "experiment-started")
        .text()
        .contains("factuality"));
    let experiment = page.element("data-experiment", "factuality");
    assert!(
        experiment.text().contains("shadow 100%"),
        "{}",
        experiment.text()
    );
    assert_eq!(
        experiment.elements("data-arm").len(),
        2,
        "live and candidate"
    );
    let drawn = graph.text();
    assert!(
        drawn.contains("judge-scripted@"),
        "the graph shows the swapped component: {drawn}"
    );
    assert!(page.element("data-router", "triage").text().contains('%'));
    assert!(
        page.external_requests().is_empty(),
        "{:?}",
        page.external_requests()
    );
    let text = page.text();
    for secret in secrets(n) {
        assert!(!text.contains(&secret), "{secret:?} is on the page");
    }
    relay_task.abort();
    server.stop().await.unwrap();
}

/// With no admin token configured (the admin API off), the status page's
/// JSON and graph are open to whoever reaches the port, as documented;
/// a bearer token sent anyway changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_without_a_configured_token_shows_everything() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), &triage_flow()).unwrap();
    let hub = switchyard::models::ModelHub::from_env(&m.models).unwrap();
    let p = switchyard::pipeline::Pipeline::load(&engine(None), m)
        .await
        .unwrap()
        .bind(hub);
    let server = TestServer::start(p, None).await;
    let client = reqwest::Client::new();
    let (code, open) = status(&client, &server.url, None).await;
    assert_eq!(code, 200);
    assert_eq!(open["view"], "full", "{open}");
    assert_eq!(open["budgets"], json!([]), "the flow declares no budget");
    let (code, still) = status(&client, &server.url, Some("anything")).await;
    assert_eq!((code, &still["view"]), (200, &json!("full")));
    let graph = client
        .get(format!("{}/status/graph.svg", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(graph.status().as_u16(), 200);
    server.stop().await.unwrap();
}
