//! `mfw ui` on a datastore with finished, cached, failed and running runs:
//! over HTTP, and in headless Chromium driven through WebDriver
//! (chromedriver), which also saves screenshots (`target/ui-screenshots`;
//! with `MFW_UI_SCREENSHOTS=docs` into `docs/ui/`, where `docs/ui.md`
//! shows them). Without chromedriver the browser test skips loudly; CI
//! (`MFW_REQUIRE_BROWSER=1`) requires it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::minio::Minio;
use common::{Scratch, example, guest};

/// A plain HTTP/1.1 exchange: the status and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("a timeout");
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("a request");
    // Read the head, then as much body as it announces: a server may keep
    // the connection open whatever the request said.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a response");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let mut raw = Vec::new();
    if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        raw.resize(length, 0);
        reader.read_exact(&mut raw).expect("a body");
    } else if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("a chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("a chunk");
            if size == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut raw).expect("a body");
    }
    let body = String::from_utf8_lossy(&raw).into_owned();
    (status, body)
}

/// `GET path`: the status and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    http(addr, "GET", path, None, &[])
}

/// `mfw ui` on a free port of this scratch directory's store; killed when
/// dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(scratch: &Scratch) -> Server {
    serve_with(scratch, &[]).0
}

/// `mfw ui --port 0 args...`, and the line it printed.
fn serve_with(scratch: &Scratch, args: &[&str]) -> (Server, String) {
    serve_in(scratch, &[], args, &[])
}

/// `mfw top... ui --port 0 args...` with `env` added.
fn serve_in(
    scratch: &Scratch,
    top: &[&str],
    args: &[&str],
    env: &[(&str, String)],
) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mfw"))
        .args(top)
        .args(["ui", "--port", "0"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(scratch.path())
        .env_remove("MFW_DATASTORE")
        .env_remove("MFW_UI_TOKEN")
        .stdout(Stdio::piped())
        .spawn()
        .expect("mfw ui starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("it prints its address");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        // Listening on every address includes loopback.
        .replace("0.0.0.0", "127.0.0.1");
    (Server { child, addr }, line)
}

/// The runs the tests look at.
struct Runs {
    scratch: Scratch,
    wide: String,
    cached: String,
    failed: String,
    running: String,
}

const RUNNING_FLOW: &str = "LongFlow";

/// A store with a finished run, its cached rerun, a failed run, and a run
/// that is going on (its record and heartbeat written as `mfw run` writes
/// them, so the test decides when it makes progress).
async fn runs() -> Runs {
    let scratch = Scratch::new();
    let wide = example("wide");
    let run_wide = || {
        scratch
            .mfw([
                "run".as_ref(),
                wide.as_os_str(),
                "--n".as_ref(),
                "40".as_ref(),
            ])
            .ok()
    };
    let (first, again) = (run_wide(), run_wide());
    assert!(again.stderr.contains("cached"), "{}", again.stderr);
    let failed = scratch
        .mfw([
            "run".as_ref(),
            guest("faulty").as_os_str(),
            "--mode".as_ref(),
            "error".as_ref(),
        ])
        .failed();
    let store = mfw_store::Datastore::open(scratch.path().join(".mfw").to_str().expect("utf-8"))
        .expect("the store");
    let mut running = mfw_store::RunRecord::new(RUNNING_FLOW);
    running.graph = Some(
        mfw_graph::FlowGraph::new(RUNNING_FLOW)
            .with_step(mfw_graph::Step::linear("start", ["end"]))
            .with_step(mfw_graph::Step::end()),
    );
    store.create_run(&mut running).await.expect("a run");
    store
        .beat(RUNNING_FLOW, &running.run_id)
        .await
        .expect("a beat");
    Runs {
        wide: first.run_id(),
        cached: again.run_id(),
        failed: failed.run_id(),
        running: running.run_id.clone(),
        scratch,
    }
}

/// Records `step/0` of the running run as `mfw run` would when it ends.
async fn record_task(scratch: &Scratch, run_id: &str, step: &str) {
    let store = mfw_store::Datastore::open(scratch.path().join(".mfw").to_str().expect("utf-8"))
        .expect("the store");
    let mut task = mfw_store::TaskRecord::new(RUNNING_FLOW, run_id, step, "0");
    let now = mfw_store::now_millis();
    task.attempts.push(mfw_store::Attempt {
        attempt: 0,
        started_at: now - 30,
        finished_at: now,
        status: mfw_store::TaskStatus::Succeeded,
        error: None,
        stdout: None,
        stderr: None,
        memory_bytes: None,
    });
    store.write_task(&task).await.expect("a task record");
    store.beat(RUNNING_FLOW, run_id).await.expect("a beat");
}

#[tokio::test]
async fn pages_show_each_kind_of_run_and_refuse_what_they_must() {
    let runs = runs().await;
    let server = serve(&runs.scratch);
    let addr = server.addr.as_str();

    let (status, list) = get(addr, "/");
    assert_eq!(status, 200);
    for (flow, id, status) in [
        ("WideFlow", &runs.wide, "succeeded"),
        ("WideFlow", &runs.cached, "succeeded"),
        ("FaultyFlow", &runs.failed, "failed"),
        (RUNNING_FLOW, &runs.running, "running"),
    ] {
        assert!(
            list.contains(&format!(
                "<tr class=\"run {status}\" data-run=\"{flow}/{id}\">"
            )),
            "{flow}/{id} is not listed as {status}:\n{list}"
        );
    }
    let (_, failed_only) = get(addr, "/?status=failed");
    assert_eq!(failed_only.matches("<tr class=\"run ").count(), 1);

    // The run page: the graph's steps, one timeline bar per task that ran.
    let (status, page) = get(addr, &format!("/flows/WideFlow/runs/{}", runs.wide));
    assert_eq!(status, 200);
    assert_eq!(page.matches("<g class=\"node done\"").count(), 4, "{page}");
    assert_eq!(page.matches("<rect class=\"ok\"").count(), 43);
    // The cached rerun ran nothing: its tasks are counted, not drawn.
    let (_, cached) = get(addr, &format!("/flows/WideFlow/runs/{}", runs.cached));
    assert!(cached.contains("(40 cached)"), "{cached}");
    assert!(cached.contains("class=\"task cached\""));

    // The failed task: its error, its traceback's message, what it printed.
    let task = format!("/flows/FaultyFlow/runs/{}/steps/fail/tasks/0", runs.failed);
    let (status, page) = get(addr, &task);
    assert_eq!(status, 200);
    assert!(page.contains("ValueError: the data is bad"), "{page}");
    let (_, start) = get(
        addr,
        &format!("/flows/FaultyFlow/runs/{}/steps/start/tasks/0", runs.failed),
    );
    assert!(start.contains("start ran"), "{start}");
    // A Rust step's card, as the Python SDK's are.
    let card = runs
        .scratch
        .card(&format!("FaultyFlow/{}/start/0", runs.failed), None);
    assert!(card.contains("start ran <strong>first</strong>"), "{card}");
    assert!(card.contains("<progress max=\"2\" value=\"1\">"), "{card}");
    assert!(start.contains("<tr id=\"artifact-before\"><th>before</th><td>int</td>"));

    // The same as JSON, for scripts.
    let (_, json) = get(addr, &format!("/api/flows/WideFlow/runs/{}", runs.wide));
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["row"]["tasks"], 43);

    // Names that are not names, unknown runs, foreign hosts.
    assert_eq!(get(addr, "/flows/WideFlow/runs/..%2F..").0, 404);
    assert_eq!(get(addr, "/flows/WideFlow/runs/999").0, 404);
    let (status, _) = http(addr, "GET", "/", None, &[("Host", "attacker.example")]);
    assert_eq!(
        status, 403,
        "a page of another site must not read the store"
    );
}

#[tokio::test]
async fn a_non_loopback_address_needs_a_token_and_checks_it() {
    let scratch = Scratch::new();
    let refused = scratch
        .mfw(["ui", "--bind", "0.0.0.0", "--port", "0"])
        .failed();
    assert!(refused.stderr.contains("--token"), "{}", refused.stderr);

    let (server, line) = serve_with(&scratch, &["--bind", "0.0.0.0", "--token", "s3cret"]);
    assert!(line.contains("?token=s3cret"), "{line}");
    let addr = server.addr.as_str();
    assert_eq!(get(addr, "/").0, 401);
    assert_eq!(get(addr, "/?token=wrong").0, 401);
    assert_eq!(get(addr, "/?token=s3cret").0, 200);
    assert_eq!(
        http(
            addr,
            "GET",
            "/",
            None,
            &[("Authorization", "Bearer s3cret")]
        )
        .0,
        200
    );
    assert_eq!(
        http(addr, "GET", "/", None, &[("Cookie", "mfw_ui_token=s3cret")]).0,
        200
    );
}

/// chromedriver, or why the browser test cannot run.
fn chromedriver() -> Result<(PathBuf, PathBuf), String> {
    let driver = PathBuf::from("/usr/bin/chromedriver");
    let browser = PathBuf::from("/usr/bin/chromium");
    if driver.exists() && browser.exists() {
        Ok((driver, browser))
    } else {
        Err("no /usr/bin/chromedriver and /usr/bin/chromium (Debian's chromium-driver)".into())
    }
}

/// One WebDriver session in headless Chromium.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium. Sent without waiting for the
        // answer and without panicking: a panic here, while a failed test
        // unwinds, would abort and leave Chromium running.
        if let Ok(mut stream) = TcpStream::connect(&self.addr) {
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.session, self.addr
            );
            let _ = stream.write_all(request.as_bytes());
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = stream.read(&mut [0; 64]);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn start(driver: &PathBuf, browser: &PathBuf) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("a profile directory");
        let capabilities = serde_json::json!({
            "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
                "binary": browser,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }}}
        });
        let (status, body) = http(
            &addr,
            "POST",
            "/session",
            Some(&capabilities.to_string()),
            &[],
        );
        assert_eq!(status, 200, "no WebDriver session: {body}");
        let reply: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let session = reply["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Browser {
            driver: child,
            addr,
            session,
            _profile: profile,
        }
    }

    fn command(&self, method: &str, what: &str, body: serde_json::Value) -> serde_json::Value {
        let path = format!("/session/{}/{what}", self.session);
        let body = (method == "POST").then(|| body.to_string());
        let (status, reply) = http(&self.addr, method, &path, body.as_deref(), &[]);
        assert_eq!(status, 200, "{what}: {reply}");
        serde_json::from_str::<serde_json::Value>(&reply).expect("JSON")["value"].take()
    }

    fn open(&self, url: &str) {
        self.command("POST", "url", serde_json::json!({ "url": url }));
    }

    fn eval(&self, script: &str) -> serde_json::Value {
        self.command(
            "POST",
            "execute/sync",
            serde_json::json!({ "script": script, "args": [] }),
        )
    }

    /// Waits until `script` returns true.
    fn wait_for(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.eval(script) != serde_json::Value::Bool(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a screenshot of the page as `name.png`.
    fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.command("GET", "screenshot", serde_json::Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("a PNG");
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
        let mut dirs = vec![common::repo().join("target/ui-screenshots")];
        if std::env::var("MFW_UI_SCREENSHOTS").as_deref() == Ok("docs") {
            dirs.push(common::repo().join("docs/ui"));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).expect("a directory");
            std::fs::write(dir.join(format!("{name}.png")), &bytes).expect("a screenshot");
        }
    }
}

#[tokio::test]
async fn the_browser_draws_runs_graphs_timelines_and_follows_a_running_run() {
    let (driver, browser) = match chromedriver() {
        Ok(found) => found,
        Err(why) => {
            assert!(std::env::var_os("MFW_REQUIRE_BROWSER").is_none(), "{why}");
            eprintln!("skipping: {why}");
            return;
        }
    };
    let runs = runs().await;
    let server = serve(&runs.scratch);
    let base = format!("http://{}", server.addr);
    let chrome = Browser::start(&driver, &browser);

    chrome.open(&format!("{base}/"));
    let statuses = chrome.eval(
        "return [...document.querySelectorAll('tr.run .status')].map(e => e.textContent).sort()",
    );
    assert_eq!(
        statuses,
        serde_json::json!(["failed", "running", "succeeded", "succeeded"])
    );
    chrome.screenshot("runs");

    chrome.open(&format!("{base}/flows/WideFlow/runs/{}", runs.wide));
    let drawn = chrome.eval(
        "const box = s => { const r = document.querySelector(s).getBoundingClientRect(); \
         return r.width > 100 && r.height > 20; }; \
         return { nodes: document.querySelectorAll('svg.dag .node').length, \
                  edges: document.querySelectorAll('svg.dag .edge').length, \
                  bars: document.querySelectorAll('svg.timeline rect.ok').length, \
                  dag: box('svg.dag'), timeline: box('svg.timeline') }",
    );
    assert_eq!(
        drawn,
        serde_json::json!({"nodes": 4, "edges": 3, "bars": 43, "dag": true, "timeline": true})
    );
    chrome.screenshot("run");

    chrome.open(&format!(
        "{base}/flows/FaultyFlow/runs/{}/steps/fail/tasks/0",
        runs.failed
    ));
    let error = chrome.eval("return document.querySelector('pre.error').textContent");
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.contains("the data is bad")),
        "{error}"
    );
    chrome.screenshot("task");

    // A running run's page follows it: a task recorded while it is open
    // appears without a reload.
    chrome.open(&format!(
        "{base}/flows/{RUNNING_FLOW}/runs/{}",
        runs.running
    ));
    chrome.wait_for(
        "return document.getElementById('connection').className.includes('live')",
        "the page to listen for changes",
    );
    assert_eq!(
        chrome.eval("return document.querySelectorAll('a.task').length"),
        0
    );
    chrome.eval("window.notReloaded = true; return null");
    record_task(&runs.scratch, &runs.running, "start").await;
    chrome.wait_for(
        "return document.querySelectorAll('a.task.ok').length === 1",
        "the recorded task to appear",
    );
    assert_eq!(chrome.eval("return window.notReloaded === true"), true);
    chrome.screenshot("running");

    // A running task's page follows what it prints.
    let log = |stdout: &str| mfw_store::LiveLog {
        stdout: stdout.into(),
        ..Default::default()
    };
    let store =
        mfw_store::Datastore::open(runs.scratch.path().join(".mfw").to_str().expect("utf-8"))
            .expect("the store");
    store
        .put_live_log(RUNNING_FLOW, &runs.running, "end", "0", &log("epoch 1\n"))
        .await
        .expect("a live log");
    chrome.open(&format!(
        "{base}/flows/{RUNNING_FLOW}/runs/{}/steps/end/tasks/0",
        runs.running
    ));
    chrome.wait_for(
        "return document.getElementById('connection').className.includes('live')",
        "the task page to listen for changes",
    );
    store
        .put_live_log(
            RUNNING_FLOW,
            &runs.running,
            "end",
            "0",
            &log("epoch 1\nepoch 2\n"),
        )
        .await
        .expect("a live log");
    chrome.wait_for(
        "return document.querySelector('pre.stdout').textContent === 'epoch 1\\nepoch 2\\n'",
        "the task's new output to appear",
    );
}

/// A Python flow whose steps make cards: a default one with Markdown (with
/// HTML in it), a table, an image and a progress bar, and a blank one by
/// id.
const CARD_FLOW: &str = r##"
from mfw import FlowSpec, card, current, step
from mfw.cards import Image, Markdown, ProgressBar, Table, VegaChart

PIXELS = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc000000114944415478da"
    "63d0c83b8115310c2d090008c65781e9d8ec3d0000000049454e44ae426082"
)


class CardFlow(FlowSpec):
    @card
    @step
    def start(self):
        self.score = 0.93
        current.card.append(Markdown("# Results\n\nscore **0.93** <script>alert(1)</script>"))
        current.card.append(Table([[1, "a"], [2, "b<c"]], headers=["n", "name"]))
        current.card.append(Image(PIXELS, label="pixels"))
        current.card.append(ProgressBar(max=10, value=4, label="epochs"))
        current.card.append(
            VegaChart(
                {
                    "data": {"values": [{"genre": "drama", "n": 3}, {"genre": "</script>", "n": 5}]},
                    "mark": "bar",
                    "encoding": {
                        "x": {"field": "genre", "type": "nominal"},
                        "y": {"field": "n", "type": "quantitative"},
                    },
                }
            )
        )
        self.next(self.end)

    @card(type="blank", id="report")
    @step
    def end(self):
        current.card["report"].append(Markdown("all done"))


if __name__ == "__main__":
    CardFlow()
"##;

#[tokio::test]
async fn cards_are_stored_with_their_task_and_render_offline() {
    let scratch = Scratch::new();
    let flow = scratch.write("cards/flow.py", CARD_FLOW);
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    let run = ran.run_id();

    // The start task has its default card; the end task its blank one.
    let start = format!("CardFlow/{run}/start/0");
    let html = scratch.card(&start, None);
    assert!(html.contains("<h1>Results</h1>"), "{html}");
    assert!(html.contains("<strong>0.93</strong>"));
    assert!(
        !html.contains("<script>alert"),
        "a step's HTML must not run: {html}"
    );
    // A chart's data cannot end the script element that holds its spec.
    assert!(html.contains(r#""genre":"<\/script>""#), "{html}");
    assert!(html.contains("<td>b&lt;c</td>"));
    assert!(html.contains("src=\"data:image/png;base64,iVBORw0KGgo"));
    assert!(html.contains("<progress max=\"10\" value=\"4\">"));
    // A default card also shows the task's artifacts.
    assert!(html.contains("<th>score</th>"), "{html}");
    let none = scratch
        .mfw(["card", "get", &start, "--id", "report", "-o", "-"])
        .failed();
    assert!(
        none.stderr.contains("has no card `report`"),
        "{}",
        none.stderr
    );
    let end = format!("CardFlow/{run}/end/0");
    let report = scratch.card(&end, Some("report"));
    assert!(report.contains("all done"));
    assert!(
        !report.contains("<th>score</th>"),
        "a blank card shows only what was added"
    );

    // Cards are the task's own: the end task does not inherit start's.
    let dump = scratch.dump(&end);
    assert!(dump.get("objects").is_none(), "{dump}");

    // In the UI, the task page frames the card, sandboxed.
    let server = serve(&scratch);
    let (_, page) = get(
        &server.addr,
        &format!("/flows/CardFlow/runs/{run}/steps/start/tasks/0"),
    );
    assert!(
        page.contains(&format!(
            "<iframe class=\"card\" sandbox=\"allow-scripts\" src=\"/flows/CardFlow/runs/{run}/steps/start/tasks/0/cards/default\""
        )),
        "{page}"
    );
    let (status, card) = get(
        &server.addr,
        &format!("/flows/CardFlow/runs/{run}/steps/start/tasks/0/cards/default"),
    );
    assert_eq!(status, 200);
    assert!(card.contains("<h1>Results</h1>"));

    // Opened from a file in a browser, it draws with no request at all.
    let (driver, browser) = match chromedriver() {
        Ok(found) => found,
        Err(why) => {
            assert!(std::env::var_os("MFW_REQUIRE_BROWSER").is_none(), "{why}");
            eprintln!("skipping the browser part: {why}");
            return;
        }
    };
    let file = scratch.path().join("card.html");
    scratch
        .mfw([
            "card".as_ref(),
            "get".as_ref(),
            start.as_ref(),
            "-o".as_ref(),
            file.as_os_str(),
        ])
        .ok();
    let chrome = Browser::start(&driver, &browser);
    chrome.open(&format!("file://{}", file.display()));
    chrome.wait_for(
        "return document.querySelector('div.vega').dataset.drawn === 'true'",
        "the chart to be drawn",
    );
    let seen = chrome.eval(
        "const img = document.querySelector('img'); \
         return { requests: performance.getEntriesByType('resource').length, \
                  image: img.complete && img.naturalWidth, \
                  heading: document.querySelector('.markdown h1').textContent, \
                  bars: document.querySelectorAll('div.vega svg .mark-rect path').length }",
    );
    assert_eq!(
        seen,
        serde_json::json!({"requests": 0, "image": 8, "heading": "Results", "bars": 2}),
    );
    chrome.screenshot("card");
}

/// A task that prints and then runs on: what it printed reaches its page
/// while it runs, stored by `mfw run` itself.
#[tokio::test]
async fn a_running_tasks_output_is_on_its_page_while_it_runs() {
    let scratch = Scratch::new();
    let mut run = Command::new(env!("CARGO_BIN_EXE_mfw"))
        .arg("run")
        .arg(guest("faulty"))
        .args(["--mode", "spin", "--timeout", "60"])
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", common::cache_dir())
        .env_remove("MFW_DATASTORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mfw run starts");
    let store = mfw_store::Datastore::open(scratch.path().join(".mfw").to_str().expect("utf-8"))
        .expect("the store");
    // The run's id, once it has one.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        if let Some(id) = store
            .list_run_ids("FaultyFlow")
            .await
            .ok()
            .and_then(|ids| ids.into_iter().next())
        {
            break id;
        }
        assert!(Instant::now() < deadline, "the run did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let server = serve(&scratch);
    let task = format!("/flows/FaultyFlow/runs/{run_id}/steps/fail/tasks/0");
    let page = loop {
        let (status, page) = get(&server.addr, &task);
        if status == 200 {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the running task's output was never stored ({status}): {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = run.kill();
    let _ = run.wait();
    assert!(
        page.contains("<span class=\"status running\">running</span>"),
        "{page}"
    );
    assert!(
        page.contains("<pre class=\"log stdout\">spinning\n</pre>"),
        "{page}"
    );
    // The run page lists it as running.
    let (_, run_page) = get(&server.addr, &format!("/flows/FaultyFlow/runs/{run_id}"));
    assert!(
        run_page.contains(&format!("<a class=\"task running\" href=\"{task}\">0</a>")),
        "{run_page}"
    );
}

/// A Go step's card, as the Python and Rust SDKs make them.
#[test]
fn a_go_steps_card_is_stored_and_rendered() {
    let scratch = Scratch::new();
    let flow = common::repo().join("examples/hello/go");
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    let start = format!("HelloFlow/{}/start/0", ran.run_id());
    let card = scratch.card(&start, None);
    assert!(card.contains("x is <strong>1</strong>"), "{card}");
    assert!(card.contains("<progress max=\"2\" value=\"1\">"), "{card}");
}

/// The UI over a datastore on S3 (MinIO): the same pages as on a local
/// store, and a run started while it serves appears in the list.
#[test]
fn the_ui_serves_a_datastore_on_s3() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("ui-runs");
    let scratch = Scratch::new();
    let store = "s3://ui-runs/team";
    let env = minio.env();
    let mfw = |args: &[&std::ffi::OsStr]| {
        let mut all: Vec<&std::ffi::OsStr> = vec!["--datastore".as_ref(), store.as_ref()];
        all.extend_from_slice(args);
        scratch.mfw_env(all, &env)
    };
    let wide = example("wide");
    let run_wide = || {
        mfw(&[
            "run".as_ref(),
            wide.as_os_str(),
            "--n".as_ref(),
            "5".as_ref(),
        ])
        .ok()
    };
    let (first, again) = (run_wide(), run_wide());
    let failed = mfw(&[
        "run".as_ref(),
        guest("faulty").as_os_str(),
        "--mode".as_ref(),
        "error".as_ref(),
    ])
    .failed();
    let (first, again, failed) = (first.run_id(), again.run_id(), failed.run_id());

    let (server, _) = serve_in(&scratch, &["--datastore", store], &[], &env);
    let addr = server.addr.as_str();
    let (status, list) = get(addr, "/");
    assert_eq!(status, 200, "{list}");
    for (flow, id, status) in [
        ("WideFlow", &first, "succeeded"),
        ("WideFlow", &again, "succeeded"),
        ("FaultyFlow", &failed, "failed"),
    ] {
        assert!(
            list.contains(&format!(
                "<tr class=\"run {status}\" data-run=\"{flow}/{id}\">"
            )),
            "{flow}/{id} is not listed as {status}:\n{list}"
        );
    }
    let (status, page) = get(addr, &format!("/flows/WideFlow/runs/{first}"));
    assert_eq!(status, 200);
    assert_eq!(page.matches("<g class=\"node done\"").count(), 4, "{page}");
    assert_eq!(page.matches("<rect class=\"ok\"").count(), 8, "{page}");
    let (_, cached) = get(addr, &format!("/flows/WideFlow/runs/{again}"));
    assert!(cached.contains("(5 cached)"), "{cached}");
    // A task's error and output, and an artifact's preview, read from S3.
    let (status, page) = get(
        addr,
        &format!("/flows/FaultyFlow/runs/{failed}/steps/fail/tasks/0"),
    );
    assert_eq!(status, 200);
    assert!(page.contains("ValueError: the data is bad"), "{page}");
    let (_, start) = get(
        addr,
        &format!("/flows/FaultyFlow/runs/{failed}/steps/start/tasks/0"),
    );
    assert!(start.contains("start ran"), "{start}");
    assert!(start.contains("<tr id=\"artifact-before\"><th>before</th><td>int</td>"));

    // A run made while the UI serves is picked up by its watcher.
    let hello = mfw(&["run".as_ref(), example("hello").as_os_str()])
        .ok()
        .run_id();
    let row = format!("<tr class=\"run succeeded\" data-run=\"HelloFlow/{hello}\">");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, list) = get(addr, "/");
        if list.contains(&row) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new run never reached the list:\n{list}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
