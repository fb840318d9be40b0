//! `mfw ui`: a read-only web UI over a datastore, local or S3.
//!
//! Pages are rendered on the server (so every link is a permalink:
//! `/flows/TrainFlow/runs/12/steps/train/tasks/2`) and follow running runs
//! through server-sent events from one watcher ([`live`]). The assets are
//! compiled into the binary; nothing is fetched from the network at view
//! time. It binds to the loopback interface unless told otherwise, and
//! then only with a token.
//!
//! ```no_run
//! # async fn serve() -> Result<(), mfw_ui::UiError> {
//! let store = mfw_store::Datastore::open(".mfw").unwrap();
//! let ui = mfw_ui::Ui::bind(store, mfw_ui::UiOptions::default()).await?;
//! println!("open {}", ui.url());
//! ui.serve().await
//! # }
//! ```

#![warn(missing_docs)]

mod card;
mod dag;
mod html;
pub mod live;
mod vega;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::Stream;
use mfw_store::{Datastore, StoreError};
use tokio::sync::broadcast;

pub use card::{CARD_POLICY, CHART_POLICY, CardDocument, RenderedCard, task_cards};
pub use html::{duration, escape};
pub use vega::{VegaError, VegaScripts, load_or_fetch as vega_scripts};
pub use view::{RunRow, RunView, TaskView};

/// Where and how the UI listens.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// The address to bind; the default is `127.0.0.1:8324`.
    pub addr: SocketAddr,
    /// The token every request must carry. Required when `addr` is not a
    /// loopback address; on loopback, none is needed.
    pub token: Option<String>,
    /// How often the watcher looks for changes.
    pub watch_every: Duration,
    /// Where the Vega scripts that draw cards' charts are kept (fetched
    /// there once); none: charts show their specs.
    pub vega_dir: Option<std::path::PathBuf>,
}

/// The port `mfw ui` listens on by default.
pub const DEFAULT_PORT: u16 = 8324;

impl Default for UiOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            token: None,
            watch_every: Duration::from_secs(1),
            vega_dir: None,
        }
    }
}

/// Why the UI cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The address is taken or not this machine's.
    #[error("cannot listen on {addr}: {source} (another `mfw ui`? pick a port with --port)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A non-loopback address without a token would show the store to
    /// anyone who can reach it.
    #[error(
        "listening on {addr} makes the UI reachable from other machines: give it a token \
         (--token, or MFW_UI_TOKEN) that every visitor must present"
    )]
    NeedsToken {
        /// The address.
        addr: SocketAddr,
    },
    /// The server stopped.
    #[error("the UI's server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

struct Shared {
    store: Datastore,
    index: Arc<live::RunIndex>,
    changes: broadcast::Sender<live::Change>,
    token: Option<String>,
    /// The `Host` headers a loopback server answers (DNS rebinding: a page
    /// from elsewhere must not read the store through a name it controls).
    loopback_hosts: Option<Vec<String>>,
    vega: Option<VegaScripts>,
}

/// A bound, not yet serving UI.
pub struct Ui {
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    url: String,
    watch_every: Duration,
    notes: Vec<String>,
}

impl Ui {
    /// Binds the UI's address and reads the store's runs once.
    pub async fn bind(store: Datastore, options: UiOptions) -> Result<Ui, UiError> {
        let loopback = options.addr.ip().is_loopback();
        let token = options.token.filter(|t| !t.is_empty());
        if !loopback && token.is_none() {
            return Err(UiError::NeedsToken { addr: options.addr });
        }
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|source| UiError::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| UiError::Bind {
            addr: options.addr,
            source,
        })?;
        let port = addr.port();
        let loopback_hosts = loopback.then(|| {
            ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .map(|h| format!("{h}:{port}"))
                .collect()
        });
        let host = if loopback {
            format!("127.0.0.1:{port}")
        } else {
            addr.to_string()
        };
        let url = match &token {
            Some(token) => format!("http://{host}/?token={}", html::path_segment(token)),
            None => format!("http://{host}/"),
        };
        let mut notes = Vec::new();
        let vega = match &options.vega_dir {
            Some(dir) => match vega::load_or_fetch(dir).await {
                Ok(scripts) => Some(scripts),
                Err(e) => {
                    notes.push(format!("cards' charts show their specs: {e}"));
                    None
                }
            },
            None => None,
        };
        let index = Arc::new(live::RunIndex::default());
        index.refresh(&store, true).await;
        let (changes, _) = broadcast::channel(1024);
        Ok(Ui {
            listener,
            shared: Arc::new(Shared {
                store,
                index,
                changes,
                token,
                loopback_hosts,
                vega,
            }),
            url,
            watch_every: options.watch_every,
            notes,
        })
    }

    /// The address to open (with the token, if there is one).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the UI could not set up (it serves anyway), for the user.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The address bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> Result<(), UiError> {
        let watcher = tokio::spawn(live::watch(
            self.shared.index.clone(),
            self.shared.store.clone(),
            self.watch_every,
            self.shared.changes.clone(),
        ));
        let served = axum::serve(self.listener, router(self.shared))
            .await
            .map_err(UiError::Serve);
        watcher.abort();
        served
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(runs_page))
        .route("/flows/{flow}", get(flow_page))
        .route("/flows/{flow}/runs/{run}", get(run_page))
        .route("/flows/{flow}/runs/{run}/steps/{step}", get(step_page))
        .route(
            "/flows/{flow}/runs/{run}/steps/{step}/tasks/{task}",
            get(task_page),
        )
        .route(
            "/flows/{flow}/runs/{run}/steps/{step}/tasks/{task}/cards/{card}",
            get(card_page),
        )
        .route("/api/runs", get(runs_json))
        .route("/api/flows/{flow}/runs/{run}", get(run_json))
        .route(
            "/api/flows/{flow}/runs/{run}/steps/{step}/tasks/{task}",
            get(task_json),
        )
        .route("/events", get(events))
        .route("/assets/ui.css", get(css))
        .route("/assets/ui.js", get(js))
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

const TOKEN_COOKIE: &str = "mfw_ui_token";

/// Equal in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    blake3::hash(a.as_bytes()) == blake3::hash(b.as_bytes())
}

/// The token a request carries: a bearer header, the cookie, or `?token=`.
fn presented_token(headers: &HeaderMap, query: Option<&str>) -> (Option<String>, bool) {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| v.to_string());
    let in_query = query.and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| percent_decode(v))
    });
    let from_query = bearer.is_none() && cookie.is_none() && in_query.is_some();
    (bearer.or(cookie).or(in_query), from_query)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every request: the host check, the token, and headers that keep a
/// guest's text from ever running as script.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Some(hosts) = &shared.loopback_hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !hosts.iter().any(|h| h == host) {
            return (
                StatusCode::FORBIDDEN,
                "this UI answers only on the loopback address it printed",
            )
                .into_response();
        }
    }
    let mut set_cookie = None;
    if let Some(token) = &shared.token {
        let (presented, from_query) = presented_token(request.headers(), request.uri().query());
        if !presented.is_some_and(|p| same_secret(&p, token)) {
            return (
                StatusCode::UNAUTHORIZED,
                "this UI needs its token: open the address `mfw ui` printed",
            )
                .into_response();
        }
        if from_query {
            set_cookie = Some(format!(
                "{TOKEN_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                html::path_segment(token)
            ));
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A card sets its own, stricter policy (and may be framed by the UI).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; \
                 frame-ancestors 'none'",
            ),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// A request for a fragment gets the page's main part only (what the page
/// swaps in when its run changes).
#[derive(Debug, Default, serde::Deserialize)]
struct Fragment {
    #[serde(default)]
    fragment: Option<String>,
}

fn respond(
    shared: &Shared,
    fragment: &Fragment,
    title: &str,
    watch: &str,
    body: String,
) -> Response {
    if fragment.fragment.is_some() {
        Html(body).into_response()
    } else {
        Html(html::page(title, shared.store.location(), watch, &body)).into_response()
    }
}

/// A page saying what was not found or could not be read.
fn problem(error: &StoreError) -> Response {
    let status = match error {
        StoreError::TaskNotFound { .. } | StoreError::RunNotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        Html(html::page(
            "not found",
            "",
            "",
            &format!(
                "<h1>Not here</h1><p>{}</p><p><a href=\"/\">All runs</a></p>",
                escape(&error.to_string())
            ),
        )),
    )
        .into_response()
}

/// Names in a path: a flow or step is an identifier; a run or task id is
/// letters, digits, `_`, `-` and `.`, not starting with a dot. Anything
/// else never reaches the store.
fn valid_names(flow: &str, run: &str, rest: &[&str]) -> bool {
    let id = |s: &str| {
        !s.is_empty()
            && s.len() <= 200
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    mfw_graph::is_identifier(flow)
        && id(run)
        && rest.iter().enumerate().all(|(i, s)| {
            if i == 0 {
                mfw_graph::is_identifier(s)
            } else {
                id(s)
            }
        })
}

/// What a path that [`valid_names`] refuses gets.
fn not_a_name() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(html::page(
            "not found",
            "",
            "",
            "<h1>Not here</h1><p>That is not a flow, run, step or task name.</p>",
        )),
    )
        .into_response()
}

async fn runs_page(
    State(shared): State<Arc<Shared>>,
    Query(filter): Query<html::RunsFilter>,
    Query(fragment): Query<Fragment>,
) -> Response {
    let limit = filter.limit.unwrap_or(html::DEFAULT_ROWS).max(1);
    let (rows, total) = shared.index.rows(|r| filter.keeps(r), limit);
    let body = html::runs_body(&rows, &shared.index.flows(), &filter, total);
    respond(&shared, &fragment, "Runs", "runs", body)
}

async fn flow_page(Path(flow): Path<String>) -> Response {
    if !valid_names(&flow, "0", &[]) {
        return not_a_name();
    }
    Redirect::to(&format!("/?flow={}", html::path_segment(&flow))).into_response()
}

async fn run_page(
    State(shared): State<Arc<Shared>>,
    Path((flow, run)): Path<(String, String)>,
    Query(fragment): Query<Fragment>,
) -> Response {
    if !valid_names(&flow, &run, &[]) {
        return not_a_name();
    }
    match view::run_view(&shared.store, &flow, &run).await {
        Ok(view) => {
            let body = html::run_body(&view, mfw_store::now_millis());
            let title = format!("{flow}/{run}");
            respond(
                &shared,
                &fragment,
                &title,
                &live::run_change(&flow, &run),
                body,
            )
        }
        Err(e) => problem(&e),
    }
}

async fn step_page(Path((flow, run, step)): Path<(String, String, String)>) -> Response {
    if !valid_names(&flow, &run, &[&step]) {
        return not_a_name();
    }
    Redirect::to(&format!(
        "{}#step-{}",
        html::link(&flow, &run, None),
        html::path_segment(&step)
    ))
    .into_response()
}

async fn task_page(
    State(shared): State<Arc<Shared>>,
    Path((flow, run, step, task)): Path<(String, String, String, String)>,
    Query(fragment): Query<Fragment>,
) -> Response {
    if !valid_names(&flow, &run, &[&step, &task]) {
        return not_a_name();
    }
    match view::task_view(&shared.store, &flow, &run, &step, &task).await {
        Ok(view) => {
            let watch = if view.run_live {
                live::run_change(&flow, &run)
            } else {
                String::new()
            };
            let title = format!("{flow}/{run}/{step}/{task}");
            respond(&shared, &fragment, &title, &watch, html::task_body(&view))
        }
        Err(e @ StoreError::TaskNotFound { .. }) => {
            match view::running_task_view(&shared.store, &flow, &run, &step, &task).await {
                Some(running) => {
                    let title = format!("{flow}/{run}/{step}/{task}");
                    let watch = live::run_change(&flow, &run);
                    let body = html::running_task_body(&running);
                    respond(&shared, &fragment, &title, &watch, body)
                }
                None => problem(&e),
            }
        }
        Err(e) => problem(&e),
    }
}

/// One card of a task, as its own page (the task page frames it).
async fn card_page(
    State(shared): State<Arc<Shared>>,
    Path((flow, run, step, task, card)): Path<(String, String, String, String, String)>,
) -> Response {
    if !valid_names(&flow, &run, &[&step, &task, &card]) {
        return not_a_name();
    }
    let vega = shared.vega.as_ref();
    match card::task_cards(&shared.store, &flow, &run, &step, &task, vega).await {
        Ok(cards) => match cards.into_iter().find(|c| c.id == card) {
            Some(card) => (
                [
                    (
                        header::CONTENT_SECURITY_POLICY,
                        format!("{}; frame-ancestors 'self'", card.policy),
                    ),
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".into()),
                ],
                card.html,
            )
                .into_response(),
            None => (StatusCode::NOT_FOUND, "this task has no such card").into_response(),
        },
        Err(e) => problem(&e),
    }
}

async fn runs_json(
    State(shared): State<Arc<Shared>>,
    Query(filter): Query<html::RunsFilter>,
) -> Response {
    let limit = filter.limit.unwrap_or(usize::MAX);
    let (rows, total) = shared.index.rows(|r| filter.keeps(r), limit);
    axum::Json(serde_json::json!({ "runs": rows, "total": total })).into_response()
}

async fn run_json(
    State(shared): State<Arc<Shared>>,
    Path((flow, run)): Path<(String, String)>,
) -> Response {
    if !valid_names(&flow, &run, &[]) {
        return not_a_name();
    }
    match view::run_view(&shared.store, &flow, &run).await {
        Ok(view) => axum::Json(view).into_response(),
        Err(e) => problem(&e),
    }
}

async fn task_json(
    State(shared): State<Arc<Shared>>,
    Path((flow, run, step, task)): Path<(String, String, String, String)>,
) -> Response {
    if !valid_names(&flow, &run, &[&step, &task]) {
        return not_a_name();
    }
    match view::task_view(&shared.store, &flow, &run, &step, &task).await {
        Ok(view) => axum::Json(view).into_response(),
        Err(e) => problem(&e),
    }
}

/// The changes, as server-sent events (`data: run Flow/12`).
async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let changes = tokio_stream::wrappers::BroadcastStream::new(shared.changes.subscribe());
    let stream = futures::StreamExt::map(changes, |change| {
        // A listener that fell behind reloads whatever it shows.
        let data = change.unwrap_or_else(|_| "all".into());
        Ok(Event::default().data(data))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/ui.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/ui.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_taken_from_a_header_a_cookie_or_the_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            presented_token(&headers, Some("token=a%2Fb")),
            (Some("a/b".into()), true)
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; mfw_ui_token=c"),
        );
        assert_eq!(presented_token(&headers, None), (Some("c".into()), false));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer d"));
        assert_eq!(
            presented_token(&headers, Some("token=e")),
            (Some("d".into()), false)
        );
    }

    #[test]
    fn names_that_could_leave_the_store_are_refused() {
        assert!(valid_names("F", "12", &["train", "0.3"]));
        assert!(!valid_names("..", "12", &[]));
        assert!(!valid_names("F", "..", &[]));
        assert!(!valid_names("F", "1", &["train", "../x"]));
        assert!(!valid_names("F", "1", &["a b", "0"]));
    }
}
