//! Cards (`@card`): the reports a step makes, rendered as self-contained
//! HTML pages (no script, no network: images are inline, styles too).
//!
//! A step hands the host each card as a JSON document (`format`, `id`,
//! `type`, `components`); the host keeps it with the task
//! (`TaskRecord::cards`). A `default` card also shows the task's artifacts
//! and the flow's graph with the step marked; a `blank` card only what the
//! step added.

use std::fmt::Write as _;

use mfw_store::{Datastore, StoreError};
use serde::Deserialize;

use crate::html::{escape, when};
use crate::vega::VegaScripts;
use crate::view::{ArtifactView, TaskView};

/// A card as a step stored it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CardDocument {
    /// Its id (`None`: the card `@card` made without one).
    #[serde(default)]
    pub id: Option<String>,
    /// `default` or `blank` (or another Metaflow card type, shown as
    /// `blank`).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// What the step appended, each `{"type": ..., ...}`.
    #[serde(default)]
    pub components: Vec<serde_json::Value>,
}

/// A card rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedCard {
    /// The id it is stored under (`default` for the card without one).
    pub id: String,
    /// The whole page.
    pub html: String,
    /// Its Content-Security-Policy (also in the page): scripts only for
    /// a card that draws charts.
    pub policy: &'static str,
}

/// The largest card document read (a step's images are inline).
const MAX_CARD_BYTES: usize = 32 << 20;

/// Every card of a task, rendered; a card that cannot be read is rendered
/// as a page saying why.
pub async fn task_cards(
    store: &Datastore,
    flow: &str,
    run_id: &str,
    step: &str,
    task_id: &str,
    vega: Option<&VegaScripts>,
) -> Result<Vec<RenderedCard>, StoreError> {
    let view = crate::view::task_view(store, flow, run_id, step, task_id).await?;
    let graph = match store.read_run(flow, run_id).await {
        Ok(run) => run.graph,
        Err(_) => None,
    };
    let mut out = Vec::new();
    for (id, hash) in &view.record.cards {
        let document = match store.get_blob(hash).await {
            Ok(bytes) if bytes.len() > MAX_CARD_BYTES => Err(format!(
                "the card is {} bytes, more than the {MAX_CARD_BYTES} a card may have",
                bytes.len()
            )),
            Ok(bytes) => serde_json::from_slice::<CardDocument>(&bytes)
                .map_err(|e| format!("the card is not a card document: {e}")),
            Err(e) => Err(e.to_string()),
        };
        let mut charts = vega.map(|_| Vec::new());
        let body = match document {
            Ok(card) => {
                let context = graph.as_ref().map(|g| {
                    crate::dag::svg(g, &|name| if name == step { "running" } else { "pending" })
                });
                body(&card, &view, context.as_deref(), &mut charts)
            }
            Err(why) => format!("<p class=\"error\">{}</p>", escape(&why)),
        };
        let title = format!("{} · {id}", view.record.pathspec());
        let drawn = match (vega, charts) {
            (Some(vega), Some(charts)) if !charts.is_empty() => Some((vega, charts)),
            _ => None,
        };
        out.push(match drawn {
            None => RenderedCard {
                id: id.clone(),
                html: page(&title, &body, CARD_POLICY, ""),
                policy: CARD_POLICY,
            },
            Some((vega, charts)) => RenderedCard {
                id: id.clone(),
                html: page(&title, &body, CHART_POLICY, &chart_scripts(vega, &charts)),
                policy: CHART_POLICY,
            },
        });
    }
    Ok(out)
}

/// A card's page around `body`: its own styles and a policy that allows
/// nothing else (no script, no requests), also when opened from a file.
fn page(title: &str, body: &str, policy: &str, scripts: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{}</style></head><body>{body}{scripts}</body></html>",
        escape(title),
        include_str!("../assets/card.css"),
    )
}

/// What a card page may load: its inline styles and inline images.
pub const CARD_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// A card with charts may also run its inline scripts (Vega's, which
/// compiles its expressions): still no request of any kind.
pub const CHART_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
     script-src 'unsafe-inline' 'unsafe-eval'";

/// Vega, Vega-Lite, the charts' specs and what draws them.
fn chart_scripts(vega: &VegaScripts, charts: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for (n, spec) in charts.iter().enumerate() {
        // `</` would end the script element early.
        let json = spec.to_string().replace("</", "<\\/");
        let _ = write!(
            out,
            "<script type=\"application/json\" id=\"vega-spec-{n}\">{json}</script>"
        );
    }
    let _ = write!(
        out,
        "<script>{}</script><script>{}</script><script>{}</script>",
        vega.vega,
        vega.vega_lite,
        include_str!("../assets/charts.js")
    );
    out
}

fn body(
    card: &CardDocument,
    task: &TaskView,
    graph: Option<&str>,
    charts: &mut Option<Vec<serde_json::Value>>,
) -> String {
    let record = &task.record;
    let mut out = String::new();
    if card.kind == "default" {
        let _ = write!(
            out,
            "<header><h1>{}</h1><p>{}{}</p></header>",
            escape(&record.pathspec()),
            record
                .attempts
                .last()
                .map(|a| format!("ran {}", when(a.started_at)))
                .unwrap_or_default(),
            if record.cached {
                ", from the cache"
            } else {
                ""
            },
        );
    }
    for component in &card.components {
        out.push_str(&component_html(component, 0, charts));
    }
    if card.kind == "default" {
        if let Some(graph) = graph {
            let _ = write!(out, "<h2>Flow</h2><div class=\"dag\">{graph}</div>");
        }
        out.push_str("<h2>Artifacts</h2>");
        out.push_str(&artifacts_html(&task.artifacts));
    }
    if out.is_empty() {
        out.push_str("<p class=\"empty\">This card is empty.</p>");
    }
    out
}

fn artifacts_html(artifacts: &[ArtifactView]) -> String {
    let mut out = String::from(
        "<table><thead><tr><th>name</th><th>type</th><th>value</th></tr></thead><tbody>",
    );
    for a in artifacts.iter().filter(|a| !a.name.starts_with('_')) {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td><td><pre>{}</pre></td></tr>",
            escape(&a.name),
            escape(&a.preview.kind),
            escape(&a.preview.text)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// Text for a JSON value a component holds: strings as they are, other
/// values as JSON.
fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn field<'a>(component: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    component.get(name).unwrap_or(&serde_json::Value::Null)
}

/// How deep components may nest (a table of tables of ...).
const MAX_DEPTH: usize = 4;

/// One component as HTML; everything from the step is escaped. A chart is
/// added to `charts` to be drawn, or shown as its spec without them.
pub fn component_html(
    component: &serde_json::Value,
    depth: usize,
    charts: &mut Option<Vec<serde_json::Value>>,
) -> String {
    let kind = field(component, "type").as_str().unwrap_or("");
    match kind {
        "markdown" => markdown(&text_of(field(component, "text"))),
        "table" if depth < MAX_DEPTH => {
            let mut out = String::from("<table class=\"component\">");
            if let Some(headers) = field(component, "headers")
                .as_array()
                .filter(|h| !h.is_empty())
            {
                out.push_str("<thead><tr>");
                for header in headers {
                    let _ = write!(out, "<th>{}</th>", escape(&text_of(header)));
                }
                out.push_str("</tr></thead>");
            }
            out.push_str("<tbody>");
            for row in field(component, "data").as_array().into_iter().flatten() {
                out.push_str("<tr>");
                for cell in row.as_array().into_iter().flatten() {
                    let shown = if cell.get("type").is_some() {
                        component_html(cell, depth + 1, charts)
                    } else {
                        escape(&text_of(cell))
                    };
                    let _ = write!(out, "<td>{shown}</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table>");
            out
        }
        "image" => {
            let data = field(component, "base64").as_str().unwrap_or("");
            let label = text_of(field(component, "label"));
            match image_type(data) {
                Some(mime) => format!(
                    "<figure><img alt=\"{0}\" src=\"data:{mime};base64,{data}\"><figcaption>{0}</figcaption></figure>",
                    escape(&label)
                ),
                None => format!(
                    "<p class=\"error\">The image {} is not a PNG, JPEG, GIF or WebP image.</p>",
                    escape(&label)
                ),
            }
        }
        "progressbar" => {
            let max = field(component, "max").as_f64().unwrap_or(100.0);
            let value = field(component, "value").as_f64().unwrap_or(0.0);
            let unit = text_of(field(component, "unit"));
            format!(
                "<div class=\"progress\"><label>{}</label> <progress max=\"{max}\" value=\"{value}\"></progress> \
                 {} / {} {}<span class=\"note\">{}</span></div>",
                escape(&text_of(field(component, "label"))),
                value,
                max,
                escape(&unit),
                escape(&text_of(field(component, "metadata"))),
            )
        }
        "artifact" => format!(
            "<div class=\"artifact\"><h3>{}</h3><pre>{}</pre></div>",
            escape(&text_of(field(component, "name"))),
            escape(&text_of(field(component, "repr")))
        ),
        "error" => format!(
            "<div class=\"error\"><h3>{}</h3><pre>{}</pre></div>",
            escape(&text_of(field(component, "title"))),
            escape(&text_of(field(component, "message")))
        ),
        "vegachart" => match charts {
            Some(charts) => {
                charts.push(field(component, "spec").clone());
                format!(
                    "<div class=\"vega\" data-spec=\"vega-spec-{}\"></div>",
                    charts.len() - 1
                )
            }
            None => format!(
                "<div class=\"chart\"><p class=\"note\">A Vega-Lite chart, shown as its \
                 specification: the Vega scripts that draw it could not be fetched (`mfw ui` \
                 and `mfw card` fetch them once from the npm registry).</p><pre>{}</pre></div>",
                escape(&serde_json::to_string_pretty(field(component, "spec")).unwrap_or_default())
            ),
        },
        _ => format!(
            "<pre>{}</pre>",
            escape(&serde_json::to_string_pretty(component).unwrap_or_default())
        ),
    }
}

/// An image's type from the start of its base64, which must be base64
/// only (it goes into an attribute as it is).
fn image_type(data: &str) -> Option<&'static str> {
    if data.is_empty()
        || !data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return None;
    }
    [
        ("iVBORw0KGgo", "image/png"),
        ("/9j/", "image/jpeg"),
        ("R0lGOD", "image/gif"),
        ("UklGR", "image/webp"),
    ]
    .into_iter()
    .find(|(start, _)| data.starts_with(start))
    .map(|(_, mime)| mime)
}

/// Markdown as HTML; HTML written in the Markdown is shown as text.
fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::from("<div class=\"markdown\">");
    pulldown_cmark::html::push_html(&mut out, events);
    out.push_str("</div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markdown_renders_but_its_html_is_text() {
        let html = component_html(
            &json!({"type": "markdown", "text": "# Results\n\n**bold** <script>alert(1)</script>"}),
            0,
            &mut None,
        );
        assert!(html.contains("<h1>Results</h1>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn a_table_holds_text_and_components() {
        let html = component_html(
            &json!({"type": "table", "headers": ["n", "<b>"],
                    "data": [[1, {"type": "markdown", "text": "*x*"}], ["a&b", null]]}),
            0,
            &mut None,
        );
        assert!(html.contains("<th>&lt;b&gt;</th>"), "{html}");
        assert!(html.contains("<td>1</td>"));
        assert!(html.contains("<em>x</em>"));
        assert!(html.contains("<td>a&amp;b</td><td></td>"));
    }

    #[test]
    fn only_base64_images_of_known_types_are_shown() {
        let png = component_html(
            &json!({"type": "image", "base64": "iVBORw0KGgoAAAA=", "label": "p"}),
            0,
            &mut None,
        );
        assert!(
            png.contains("src=\"data:image/png;base64,iVBORw0KGgoAAAA=\""),
            "{png}"
        );
        let quote = component_html(
            &json!({"type": "image", "base64": "iVBORw0KGgo\"><script>"}),
            0,
            &mut None,
        );
        assert!(!quote.contains("<img"), "{quote}");
        let svg = component_html(
            &json!({"type": "image", "base64": "PHN2Zz4="}),
            0,
            &mut None,
        );
        assert!(!svg.contains("<img"), "{svg}");
    }

    #[test]
    fn a_progress_bar_an_error_and_an_unknown_component_show_their_data() {
        let bar = component_html(
            &json!({"type": "progressbar", "max": 10, "value": 4, "label": "epochs"}),
            0,
            &mut None,
        );
        assert!(bar.contains("<progress max=\"10\" value=\"4\">"), "{bar}");
        let error = component_html(
            &json!({"type": "error", "title": "t", "message": "<boom>"}),
            0,
            &mut None,
        );
        assert!(error.contains("&lt;boom&gt;"));
        let unknown = component_html(&json!({"type": "<x>"}), 0, &mut None);
        assert!(
            unknown.contains("&lt;x&gt;") && !unknown.contains("<x>"),
            "{unknown}"
        );
    }

    #[test]
    fn nesting_stops() {
        let mut table = json!({"type": "markdown", "text": "deep"});
        for _ in 0..10 {
            table = json!({"type": "table", "data": [[table]]});
        }
        let html = component_html(&table, 0, &mut None);
        assert_eq!(html.matches("<table").count(), MAX_DEPTH);
    }

    #[test]
    fn a_card_page_allows_no_script() {
        let html = page("t", "<p>x</p>", CARD_POLICY, "");
        assert!(html.contains(CARD_POLICY));
        assert!(!CARD_POLICY.contains("script"));
    }
}
