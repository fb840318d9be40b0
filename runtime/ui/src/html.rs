//! The pages, rendered on the server: every text that comes from a run (a
//! flow's names, logs, values) goes through [`escape`].

use std::fmt::Write as _;

use crate::view::{Preview, RunRow, RunView, StepView, TaskView};

/// `text` made safe inside HTML text and quoted attributes.
///
/// ```
/// assert_eq!(mfw_ui::escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `part` made safe as one segment of a URL path.
pub fn path_segment(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The permalink of a run, a step or a task.
pub fn link(flow: &str, run: &str, step_task: Option<(&str, &str)>) -> String {
    let mut out = format!("/flows/{}/runs/{}", path_segment(flow), path_segment(run));
    if let Some((step, task)) = step_task {
        let _ = write!(
            out,
            "/steps/{}/tasks/{}",
            path_segment(step),
            path_segment(task)
        );
    }
    out
}

/// A time (ms since the epoch) as `2026-12-02 01:30:10` UTC.
pub fn when(millis: u64) -> String {
    match jiff::Timestamp::from_millisecond(millis as i64) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => "?".into(),
    }
}

/// A duration for people: `850 ms`, `12.4 s`, `3 min 05 s`, `2 h 04 min`.
///
/// ```
/// assert_eq!(mfw_ui::duration(850), "850 ms");
/// assert_eq!(mfw_ui::duration(12_400), "12.4 s");
/// assert_eq!(mfw_ui::duration(185_000), "3 min 05 s");
/// ```
pub fn duration(millis: u64) -> String {
    match millis {
        0..1_000 => format!("{millis} ms"),
        1_000..60_000 => format!("{:.1} s", millis as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", millis / 60_000, millis / 1000 % 60),
        _ => format!("{} h {:02} min", millis / 3_600_000, millis / 60_000 % 60),
    }
}

fn short(hash: &impl std::fmt::Display) -> String {
    hash.to_string().chars().take(12).collect()
}

/// A whole page: `watch` names what the page follows live (`runs`, or a
/// run as `run Flow/id`), empty for nothing.
pub fn page(title: &str, store: &str, watch: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · mfw</title>\
         <link rel=\"stylesheet\" href=\"/assets/ui.css\">\
         <script src=\"/assets/ui.js\" defer></script></head>\
         <body data-watch=\"{}\"><header><a class=\"home\" href=\"/\">mfw</a>\
         <span class=\"store\" title=\"the datastore\">{}</span>\
         <span id=\"connection\" class=\"connection\"></span></header>\
         <main id=\"live\">{body}</main></body></html>",
        escape(title),
        escape(watch),
        escape(store),
    )
}

/// What the runs list is filtered by.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct RunsFilter {
    pub flow: Option<String>,
    pub status: Option<String>,
    pub tag: Option<String>,
    /// How many rows, newest first (default [`DEFAULT_ROWS`]).
    pub limit: Option<usize>,
}

/// How many runs the list shows unless asked for more.
pub const DEFAULT_ROWS: usize = 200;

impl RunsFilter {
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().filter(|v| !v.is_empty())
    }

    /// Whether `row` passes.
    pub fn keeps(&self, row: &RunRow) -> bool {
        Self::given(&self.flow).is_none_or(|f| row.flow == f)
            && Self::given(&self.status).is_none_or(|s| row.status == s)
            && Self::given(&self.tag).is_none_or(|t| {
                row.tags.iter().any(|x| x == t) || (t.strip_prefix("user:") == Some(&row.user))
            })
    }
}

/// The runs list: `rows` newest first, already filtered; `flows` for the
/// filter's choices; `total` before the limit.
pub fn runs_body(rows: &[RunRow], flows: &[String], filter: &RunsFilter, total: usize) -> String {
    let mut out = String::from("<h1>Runs</h1><form class=\"filter\" method=\"get\" action=\"/\">");
    out.push_str("<label>flow <select name=\"flow\"><option value=\"\">all</option>");
    for flow in flows {
        let selected = if filter.flow.as_deref() == Some(flow) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option{selected} value=\"{0}\">{0}</option>",
            escape(flow)
        );
    }
    out.push_str(
        "</select></label><label>status <select name=\"status\"><option value=\"\">all</option>",
    );
    for status in ["running", "succeeded", "failed", "interrupted", "stale"] {
        let selected = if filter.status.as_deref() == Some(status) {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{selected}>{status}</option>");
    }
    let _ = write!(
        out,
        "</select></label><label>tag <input name=\"tag\" value=\"{}\" placeholder=\"tag or user:name\"></label>\
         <button>Filter</button></form>",
        escape(filter.tag.as_deref().unwrap_or_default())
    );
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">No runs match.</p>");
        return out;
    }
    out.push_str(
        "<table class=\"runs\"><thead><tr><th>Flow</th><th>Run</th><th>Status</th>\
         <th>Started (UTC)</th><th>Duration</th><th>Tasks</th><th>Failed</th>\
         <th>Cached</th><th>User</th><th>Tags</th></tr></thead><tbody>",
    );
    for row in rows {
        let _ = write!(
            out,
            "<tr class=\"run {status}\" data-run=\"{flow}/{id}\"><td>{flow}</td>\
             <td><a href=\"{href}\">{id}</a></td><td><span class=\"status {status}\">{status}</span></td>\
             <td>{started}</td><td class=\"num\">{duration}</td><td class=\"num\">{tasks}</td>\
             <td class=\"num\">{failed}</td><td class=\"num\">{cached}</td><td>{user}</td><td>{tags}</td></tr>",
            flow = escape(&row.flow),
            id = escape(&row.run_id),
            href = link(&row.flow, &row.run_id, None),
            status = escape(&row.status),
            started = when(row.started_at),
            duration = duration(row.duration_ms),
            tasks = row.tasks,
            failed = row.failed,
            cached = row.cached + row.reused,
            user = escape(&row.user),
            tags = row
                .tags
                .iter()
                .map(|t| format!("<span class=\"tag\">{}</span>", escape(t)))
                .collect::<String>(),
        );
    }
    out.push_str("</tbody></table>");
    if total > rows.len() {
        let _ = write!(
            out,
            "<p class=\"more\">{} of {total} runs shown. <a href=\"?{}limit={}\">Show more</a></p>",
            rows.len(),
            filter_query(filter),
            rows.len() * 4
        );
    }
    out
}

fn filter_query(filter: &RunsFilter) -> String {
    let mut out = String::new();
    for (name, value) in [
        ("flow", &filter.flow),
        ("status", &filter.status),
        ("tag", &filter.tag),
    ] {
        if let Some(value) = RunsFilter::given(value) {
            let _ = write!(out, "{name}={}&amp;", path_segment(value));
        }
    }
    out
}

/// The timeline: each step's tasks as bars on lanes (a task takes the
/// first lane free when it starts, so the lanes show how many ran at
/// once), each attempt its own bar; tasks taken from the cache or an
/// earlier run ran elsewhere and are counted, not drawn.
pub fn timeline(view: &RunView, now: u64) -> String {
    let drawn = |s: &StepView| {
        s.tasks
            .iter()
            .filter(|t| t.cloned_from.is_none())
            .flat_map(|t| t.attempts.iter())
            .map(|a| (a.started_at, a.finished_at))
            .collect::<Vec<_>>()
    };
    let all: Vec<(u64, u64)> = view.steps.iter().flat_map(drawn).collect();
    if view.steps.iter().all(|s| s.tasks.is_empty()) {
        return "<p class=\"empty\">No task has finished in this run yet.</p>".into();
    }
    // A run whose tasks all came from the cache drew nothing: its rows
    // still say so.
    let t0 = all.iter().map(|a| a.0).min().unwrap_or(view.row.started_at);
    let end = all.iter().map(|a| a.1).max().unwrap_or(t0);
    let t1 = if view.row.is_live() {
        end.max(now)
    } else {
        end
    }
    .max(t0 + 1);
    const WIDTH: f64 = 1000.0;
    const LABEL: f64 = 150.0;
    const LANE_H: usize = 7;
    let x = |t: u64| LABEL + (t.saturating_sub(t0)) as f64 / (t1 - t0) as f64 * (WIDTH - LABEL);
    let mut rows = String::new();
    let mut y = 4usize;
    for step in &view.steps {
        let mut tasks: Vec<_> = step
            .tasks
            .iter()
            .filter(|t| t.cloned_from.is_none() && !t.attempts.is_empty())
            .collect();
        let cloned = step.tasks.len() - tasks.len();
        if tasks.is_empty() && cloned == 0 {
            continue;
        }
        tasks.sort_by_key(|t| t.attempts[0].started_at);
        let mut lanes: Vec<u64> = Vec::new();
        let mut bars = String::new();
        for task in &tasks {
            let start = task.attempts[0].started_at;
            let finish = task
                .attempts
                .iter()
                .map(|a| a.finished_at)
                .max()
                .unwrap_or(start);
            let lane = match lanes.iter().position(|&free| free <= start) {
                Some(lane) => lane,
                None => {
                    lanes.push(0);
                    lanes.len() - 1
                }
            };
            lanes[lane] = finish;
            for a in &task.attempts {
                let (x1, x2) = (x(a.started_at), x(a.finished_at));
                let _ = write!(
                    bars,
                    "<rect class=\"{}\" x=\"{x1:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\">\
                     <title>{}/{} attempt {}: {}</title></rect>",
                    if a.ok { "ok" } else { "failed" },
                    y + lane * LANE_H,
                    (x2 - x1).max(1.0),
                    LANE_H - 1,
                    escape(&step.name),
                    escape(&task.task_id),
                    a.attempt,
                    duration(a.finished_at.saturating_sub(a.started_at)),
                );
            }
        }
        let lanes = lanes.len().max(1);
        let label = if cloned > 0 {
            format!("{} ({cloned} cached)", step.name)
        } else if tasks.len() > 1 {
            format!("{} ({})", step.name, tasks.len())
        } else {
            step.name.clone()
        };
        let _ = write!(
            rows,
            "<g class=\"lane-group\" data-step=\"{}\"><text class=\"label\" x=\"4\" y=\"{}\">{}</text>{bars}</g>",
            escape(&step.name),
            y + LANE_H,
            escape(&label),
        );
        y += lanes * LANE_H + 8;
    }
    format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {y}\" \
         preserveAspectRatio=\"none\" style=\"height:{y}px\" role=\"img\" aria-label=\"the run's timeline\">\
         {rows}</svg><p class=\"axis\"><span>{}</span><span>{}</span></p>",
        when(t0),
        format_args!("+{}", duration(t1 - t0)),
    )
}

/// How many tasks of a step the run page links one by one.
pub const MAX_TASK_LINKS: usize = 500;

/// The run page.
pub fn run_body(view: &RunView, now: u64) -> String {
    let row = &view.row;
    let mut out = format!(
        "<h1><a href=\"/?flow={}\">{}</a> / {} <span class=\"status {status}\">{status}</span></h1>",
        path_segment(&row.flow),
        escape(&row.flow),
        escape(&row.run_id),
        status = escape(&row.status),
    );
    out.push_str("<dl class=\"facts\">");
    let mut fact = |name: &str, value: String| {
        let _ = write!(out, "<dt>{name}</dt><dd>{value}</dd>");
    };
    fact("started", when(row.started_at));
    fact("duration", duration(row.duration_ms));
    fact(
        "tasks",
        format!(
            "{} ({} failed, {} cached, {} reused)",
            row.tasks, row.failed, row.cached, row.reused
        ),
    );
    if !row.user.is_empty() {
        fact("user", escape(&row.user));
    }
    if !row.tags.is_empty() {
        fact("tags", escape(&row.tags.join(", ")));
    }
    if let Some(origin) = &view.origin_run_id {
        fact(
            "resumed",
            format!(
                "<a href=\"{}\">{}</a>",
                link(&row.flow, origin, None),
                escape(origin)
            ),
        );
    }
    out.push_str("</dl>");
    if let Some(error) = &view.error {
        let _ = write!(out, "<pre class=\"error\">{}</pre>", escape(error));
    }
    if view.damaged > 0 {
        let _ = write!(
            out,
            "<p class=\"warning\">{} task records cannot be read (`mfw doctor` names them).</p>",
            view.damaged
        );
    }
    if !view.parameters.is_empty() {
        out.push_str("<h2>Parameters</h2><table class=\"kv\">");
        for (name, value) in &view.parameters {
            let _ = write!(
                out,
                "<tr><th>{}</th><td><pre class=\"value\">{}</pre></td></tr>",
                escape(name),
                escape(value)
            );
        }
        out.push_str("</table>");
    }
    if let Some(graph) = &view.graph {
        out.push_str("<h2>Graph</h2><div class=\"dag-box\">");
        let status = |name: &str| {
            view.steps
                .iter()
                .find(|s| s.name == name)
                .map_or("pending", |s| s.status)
        };
        out.push_str(&crate::dag::svg(graph, &status));
        out.push_str("</div>");
    }
    out.push_str("<h2>Timeline</h2><div class=\"timeline-box\">");
    out.push_str(&timeline(view, now));
    out.push_str("</div><h2>Steps</h2>");
    for step in &view.steps {
        let _ = write!(
            out,
            "<section class=\"step\" id=\"step-{name}\"><h3>{name} \
             <span class=\"status {status}\">{status}</span> <span class=\"lang\">{lang}</span>",
            name = escape(&step.name),
            status = step.status,
            lang = escape(&step.language),
        );
        if let Some(component) = &step.component {
            let _ = write!(
                out,
                " <code class=\"hash\" title=\"{component}\">{}</code>",
                short(component)
            );
        }
        out.push_str("</h3><p class=\"tasks\">");
        for task in step.tasks.iter().take(MAX_TASK_LINKS) {
            let class = match (task.ok, task.cached, task.cloned_from.is_some()) {
                _ if task.running => "running",
                (false, _, _) => "failed",
                (true, true, _) => "cached",
                (true, false, true) => "reused",
                _ => "ok",
            };
            let _ = write!(
                out,
                "<a class=\"task {class}\" href=\"{}\">{}</a> ",
                link(&row.flow, &row.run_id, Some((&step.name, &task.task_id))),
                escape(&task.task_id)
            );
        }
        if step.tasks.len() > MAX_TASK_LINKS {
            let _ = write!(
                out,
                "<span class=\"more\">… and {} more (`mfw dump {}/{}/{}` lists them)</span>",
                step.tasks.len() - MAX_TASK_LINKS,
                escape(&row.flow),
                escape(&row.run_id),
                escape(&step.name)
            );
        }
        out.push_str("</p></section>");
    }
    out
}

fn preview_html(preview: &Preview) -> String {
    let mut out = String::new();
    if let Some(table) = &preview.table {
        out.push_str("<table class=\"frame\"><thead><tr>");
        for column in &table.columns {
            let _ = write!(out, "<th>{}</th>", escape(column));
        }
        out.push_str("</tr></thead><tbody>");
        for row in &table.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
            out.push_str("</tr>");
        }
        let _ = write!(
            out,
            "</tbody></table><p class=\"note\">{} rows × {} columns{}</p>",
            table.total_rows,
            table.columns.len(),
            if table.total_rows > table.rows.len() {
                format!(", the first {} shown", table.rows.len())
            } else {
                String::new()
            }
        );
    } else {
        let _ = write!(out, "<pre class=\"value\">{}</pre>", escape(&preview.text));
    }
    out
}

/// The page of a task still running: what it has printed so far.
pub fn running_task_body(view: &crate::view::RunningTaskView) -> String {
    let mut out = format!(
        "<h1>{} <span class=\"status running\">running</span></h1>\
         <p class=\"note\">Its output so far (the last 256 KiB of each stream, stored {}); \
         this page follows it.</p>",
        escape(&view.pathspec),
        when(view.log.at),
    );
    for (name, text) in [("stdout", &view.log.stdout), ("stderr", &view.log.stderr)] {
        if !text.is_empty() {
            let _ = write!(
                out,
                "<h4>{name}</h4><pre class=\"log {name}\">{}</pre>",
                escape(text)
            );
        }
    }
    out
}

/// The task page.
pub fn task_body(view: &TaskView) -> String {
    let r = &view.record;
    let status = match r.status {
        mfw_store::TaskStatus::Succeeded => "succeeded",
        mfw_store::TaskStatus::Failed => "failed",
    };
    let mut out = format!(
        "<h1><a href=\"/?flow={}\">{}</a> / <a href=\"{}\">{}</a> / \
         <a href=\"{}#step-{step}\">{step}</a> / {} <span class=\"status {status}\">{status}</span></h1>",
        path_segment(&r.flow),
        escape(&r.flow),
        link(&r.flow, &r.run_id, None),
        escape(&r.run_id),
        link(&r.flow, &r.run_id, None),
        escape(&r.task_id),
        step = escape(&r.step),
    );
    out.push_str("<dl class=\"facts\">");
    let mut fact = |name: &str, value: String| {
        let _ = write!(out, "<dt>{name}</dt><dd>{value}</dd>");
    };
    if let Some(origin) = &r.cloned_from {
        let how = if r.cached {
            "taken from the cache: it ran in"
        } else {
            "reused by resume: it ran in"
        };
        fact(
            "origin",
            format!(
                "{how} <a href=\"{}\">run {}</a>",
                link(&r.flow, origin, Some((&r.step, &r.task_id))),
                escape(origin)
            ),
        );
    }
    if !r.parents.is_empty() {
        let parents: Vec<String> = r
            .parents
            .iter()
            .map(|p| match p.split_once('/') {
                Some((step, task)) => format!(
                    "<a href=\"{}\">{}</a>",
                    link(&r.flow, &r.run_id, Some((step, task))),
                    escape(p)
                ),
                None => escape(p),
            })
            .collect();
        fact("parents", parents.join(", "));
    }
    if !r.foreach.is_empty() {
        let frames: Vec<String> = r
            .foreach
            .iter()
            .map(|f| {
                escape(&format!(
                    "item {} of {} of `{}` (from {})",
                    f.index + 1,
                    f.count,
                    f.over,
                    f.step
                ))
            })
            .collect();
        fact("foreach", frames.join("<br>"));
    }
    if let Some(next) = &r.next {
        fact(
            "next",
            format!("<code>{}</code>", escape(&next.to_string())),
        );
    }
    fact(
        "grants",
        if r.grants.is_empty() {
            "none (sandboxed: no clock, randomness, files, environment or network)".into()
        } else {
            escape(&r.grants.join(", "))
        },
    );
    for (name, hash) in [
        ("component", &r.component),
        ("task key", &r.task_key),
        ("cache key", &r.cache_key),
        ("input key", &r.input_key),
    ] {
        if let Some(hash) = hash {
            fact(name, format!("<code class=\"hash\">{hash}</code>"));
        }
    }
    if let Some(image) = &r.image {
        fact("image", escape(image));
    }
    out.push_str("</dl><h2>Artifacts</h2>");
    if view.artifacts.is_empty() {
        out.push_str("<p class=\"empty\">None.</p>");
    } else {
        out.push_str("<table class=\"artifacts\"><thead><tr><th>Name</th><th>Kind</th><th>Size</th><th>Value</th></tr></thead><tbody>");
        for a in &view.artifacts {
            let _ = write!(
                out,
                "<tr id=\"artifact-{name}\"><th>{name}</th><td>{kind}</td><td class=\"num\" title=\"{hash}\">{size} B</td><td>{value}</td></tr>",
                name = escape(&a.name),
                kind = escape(&a.preview.kind),
                hash = a.hash,
                size = a.preview.size,
                value = preview_html(&a.preview),
            );
        }
        out.push_str("</tbody></table>");
    }
    if !r.objects.is_empty() {
        out.push_str("<h2>Objects</h2><table class=\"kv\">");
        for (key, hash) in &r.objects {
            let _ = write!(
                out,
                "<tr><th>{}</th><td><code class=\"hash\">{hash}</code></td></tr>",
                escape(key)
            );
        }
        out.push_str("</table>");
    }
    if !r.cards.is_empty() {
        out.push_str("<h2>Cards</h2>");
        for id in r.cards.keys() {
            let src = format!(
                "{}/cards/{}",
                link(&r.flow, &r.run_id, Some((&r.step, &r.task_id))),
                path_segment(id)
            );
            // Sandboxed: a card reaches nothing of the UI; only a card
            // with charts may run its own (inline) scripts.
            let _ = write!(
                out,
                "<section class=\"card\"><h3>{id} <a href=\"{src}\">open</a></h3>\
                 <iframe class=\"card\" sandbox=\"allow-scripts\" src=\"{src}\" title=\"card {id}\"></iframe></section>",
                id = escape(id),
            );
        }
    }
    out.push_str("<h2>Attempts</h2>");
    for a in view.attempts.iter().rev() {
        let _ = write!(
            out,
            "<section class=\"attempt\" id=\"attempt-{n}\"><h3>attempt {n} \
             <span class=\"status {c}\">{c}</span> {d}{m}</h3>",
            n = a.attempt,
            c = if a.ok { "succeeded" } else { "failed" },
            d = duration(a.finished_at.saturating_sub(a.started_at)),
            m = a
                .memory_bytes
                .map(|b| format!(", {} MiB of memory", b >> 20))
                .unwrap_or_default(),
        );
        if let Some(error) = &a.error {
            let _ = write!(
                out,
                "<pre class=\"error\">{}\n{}</pre>",
                escape(&error.message),
                escape(&error.detail)
            );
        }
        for (name, text) in [("stdout", &a.stdout), ("stderr", &a.stderr)] {
            if !text.is_empty() {
                let _ = write!(
                    out,
                    "<h4>{name}</h4><pre class=\"log {name}\">{}</pre>",
                    escape(text)
                );
            }
        }
        out.push_str("</section>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_keeps_only_unreserved_characters() {
        assert_eq!(path_segment("a/b c?&"), "a%2Fb%20c%3F%26");
        assert_eq!(
            link("F", "1", Some(("train", "0.3"))),
            "/flows/F/runs/1/steps/train/tasks/0.3"
        );
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(duration(0), "0 ms");
        assert_eq!(duration(3_600_000 * 2 + 4 * 60_000), "2 h 04 min");
    }

    #[test]
    fn a_filter_keeps_rows_by_flow_status_tag_and_user() {
        let row = RunRow {
            flow: "F".into(),
            run_id: "1".into(),
            status: "failed".into(),
            started_at: 0,
            duration_ms: 0,
            tags: vec!["nightly".into()],
            user: "ana".into(),
            tasks: 0,
            failed: 0,
            cached: 0,
            reused: 0,
        };
        let with = |flow: &str, status: &str, tag: &str| RunsFilter {
            flow: Some(flow.into()),
            status: Some(status.into()),
            tag: Some(tag.into()),
            limit: None,
        };
        assert!(with("", "", "").keeps(&row));
        assert!(with("F", "failed", "nightly").keeps(&row));
        assert!(with("", "", "user:ana").keeps(&row));
        assert!(!with("G", "", "").keeps(&row));
        assert!(!with("", "succeeded", "").keeps(&row));
        assert!(!with("", "", "weekly").keeps(&row));
        assert!(!with("", "", "user:bo").keeps(&row));
    }
}
