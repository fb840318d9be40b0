//! Cards: a report a step makes, shown by `mfw ui` and written by
//! `mfw card get` (Metaflow's `@card` and `current.card`).
//!
//! ```
//! use mfw::cards::{Component, Markdown, ProgressBar, Table};
//!
//! let table = Table::new(vec!["n", "name"]).row(vec![1.into(), "a".into()]);
//! assert_eq!(table.to_json()["headers"][1], "name");
//! assert_eq!(Markdown::new("# Results").to_json()["type"], "markdown");
//! assert_eq!(ProgressBar::new(10.0).value(4.0).to_json()["value"], 4.0);
//! ```
//!
//! In a step, `cx.card().append(...)` adds to the default card (which also
//! shows the task's artifacts and the flow's graph); `cx.card_id("report")`
//! to a blank card of that id. When the step succeeds its cards are stored
//! with its task, as the Python SDK stores them (docs/ui.md).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value as Json, json};

/// Anything a card can show.
pub trait Component {
    /// The component as the card document holds it.
    fn to_json(&self) -> Json;
}

/// Text in Markdown (HTML in it is shown as text).
pub struct Markdown(String);

impl Markdown {
    /// Markdown `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl Component for Markdown {
    fn to_json(&self) -> Json {
        json!({"type": "markdown", "text": self.0})
    }
}

/// Rows of cells under optional headers.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<Json>>,
}

impl Table {
    /// A table with these headers (none: `Vec::<String>::new()`).
    pub fn new<S: Into<String>>(headers: Vec<S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of cells (numbers, text, booleans: `serde_json` values).
    pub fn row(mut self, cells: Vec<Json>) -> Self {
        self.rows.push(cells);
        self
    }
}

impl Component for Table {
    fn to_json(&self) -> Json {
        json!({"type": "table", "headers": self.headers, "data": self.rows})
    }
}

/// An encoded image (PNG, JPEG, GIF or WebP bytes) with a label.
pub struct Image {
    bytes: Vec<u8>,
    label: Option<String>,
}

impl Image {
    /// The image whose encoded bytes are `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, label: None }
    }

    /// Labels it.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

impl Component for Image {
    fn to_json(&self) -> Json {
        let data = base64::engine::general_purpose::STANDARD.encode(&self.bytes);
        json!({"type": "image", "label": self.label, "base64": data})
    }
}

/// Progress toward a maximum.
pub struct ProgressBar {
    max: f64,
    value: f64,
    label: Option<String>,
    unit: Option<String>,
}

impl ProgressBar {
    /// Progress toward `max`, at 0.
    pub fn new(max: f64) -> Self {
        Self {
            max,
            value: 0.0,
            label: None,
            unit: None,
        }
    }

    /// Where it is.
    pub fn value(mut self, value: f64) -> Self {
        self.value = value;
        self
    }

    /// What it counts.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Its unit.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }
}

impl Component for ProgressBar {
    fn to_json(&self) -> Json {
        json!({"type": "progressbar", "max": self.max, "value": self.value,
               "label": self.label, "unit": self.unit, "metadata": null})
    }
}

/// A Vega-Lite chart, by its specification.
pub struct VegaChart(Json);

impl VegaChart {
    /// The chart `spec` describes.
    pub fn new(spec: Json) -> Self {
        Self(spec)
    }
}

impl Component for VegaChart {
    fn to_json(&self) -> Json {
        json!({"type": "vegachart", "spec": self.0, "show_controls": false})
    }
}

/// The components a task added, by card id.
#[derive(Default)]
pub(crate) struct Cards(BTreeMap<String, Vec<Json>>);

/// The object key under which a card goes to the host.
const PREFIX: &str = "mfw.cards/";

/// The id of the card `cx.card()` adds to.
pub(crate) const DEFAULT: &str = "default";

impl Cards {
    pub(crate) fn append(&mut self, id: &str, component: Json) {
        self.0.entry(id.to_string()).or_default().push(component);
    }

    /// Each card as (object key, canonical JSON document: sorted keys).
    pub(crate) fn documents(&self) -> Vec<(String, Vec<u8>)> {
        self.0
            .iter()
            .map(|(id, components)| {
                let (card_id, kind) = if id == DEFAULT {
                    (Json::Null, "default")
                } else {
                    (Json::from(id.as_str()), "blank")
                };
                let document = json!({"format": 1, "id": card_id, "type": kind,
                                      "components": components});
                (format!("{PREFIX}{id}"), document.to_string().into_bytes())
            })
            .collect()
    }
}

/// Where `cx.card()` appends.
pub struct CardRef<'a> {
    pub(crate) cards: &'a mut Cards,
    pub(crate) id: String,
}

impl CardRef<'_> {
    /// Adds `component` to this card.
    pub fn append(&mut self, component: impl Component) -> &mut Self {
        self.cards.append(&self.id, component.to_json());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_canonical_and_typed_by_id() {
        let mut cards = Cards::default();
        cards.append(DEFAULT, Markdown::new("hi").to_json());
        cards.append("report", ProgressBar::new(3.0).value(1.0).to_json());
        let docs = cards.documents();
        assert_eq!(docs[0].0, "mfw.cards/default");
        assert_eq!(
            String::from_utf8(docs[0].1.clone()).unwrap(),
            r#"{"components":[{"text":"hi","type":"markdown"}],"format":1,"id":null,"type":"default"}"#
        );
        let report: Json = serde_json::from_slice(&docs[1].1).unwrap();
        assert_eq!(
            (report["id"].as_str(), report["type"].as_str()),
            (Some("report"), Some("blank"))
        );
    }

    #[test]
    fn an_image_is_base64() {
        let image = Image::new(vec![0x89, b'P', b'N', b'G'])
            .label("p")
            .to_json();
        assert_eq!(image["base64"], "iVBORw==");
        assert_eq!(image["label"], "p");
    }
}
