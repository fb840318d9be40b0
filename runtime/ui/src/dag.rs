//! A flow's graph drawn as SVG: steps in layers from `start` down, each
//! step on the layer after its deepest predecessor, edges between them.

use std::collections::BTreeMap;

use mfw_graph::FlowGraph;

use crate::html::escape;

const NODE_W: usize = 150;
const NODE_H: usize = 38;
const GAP_X: usize = 28;
const GAP_Y: usize = 46;
const MARGIN: usize = 10;

/// Each step's layer (0 for those nothing leads to), by longest path; a
/// step in a cycle (which validation refuses) keeps the layer it had.
pub fn layers(graph: &FlowGraph) -> BTreeMap<&str, usize> {
    let mut layer: BTreeMap<&str, usize> = graph.steps.iter().map(|s| (&*s.name, 0)).collect();
    // At most one pass per step: a longest path has no more edges.
    for _ in 0..graph.steps.len() {
        let mut changed = false;
        for step in &graph.steps {
            let here = layer[&*step.name];
            for next in &step.next {
                if let Some(there) = layer.get_mut(next.as_str())
                    && *there < here + 1
                {
                    *there = here + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

/// The graph as an SVG element; `status` gives each step's CSS class
/// (`done`, `failed`, `running`, `pending`), and each step links to
/// `#step-<name>`.
pub fn svg(graph: &FlowGraph, status: &dyn Fn(&str) -> &'static str) -> String {
    let layer = layers(graph);
    let depth = layer.values().copied().max().map_or(0, |d| d + 1);
    let mut rows: Vec<Vec<&str>> = vec![Vec::new(); depth];
    for step in &graph.steps {
        rows[layer[&*step.name]].push(&step.name);
    }
    let widest = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let width = 2 * MARGIN + widest * NODE_W + (widest - 1) * GAP_X;
    let height = 2 * MARGIN + depth * NODE_H + depth.saturating_sub(1) * GAP_Y;
    let mut at: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (y, row) in rows.iter().enumerate() {
        let row_w = row.len() * NODE_W + row.len().saturating_sub(1) * GAP_X;
        let left = (width - row_w) / 2;
        for (x, name) in row.iter().enumerate() {
            at.insert(
                name,
                (left + x * (NODE_W + GAP_X), MARGIN + y * (NODE_H + GAP_Y)),
            );
        }
    }
    let mut out = format!(
        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"the flow's graph\">"
    );
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\"/></marker></defs>",
    );
    for step in &graph.steps {
        let (x1, y1) = at[&*step.name];
        for next in &step.next {
            let Some(&(x2, y2)) = at.get(next.as_str()) else {
                continue;
            };
            let (sx, sy) = (x1 + NODE_W / 2, y1 + NODE_H);
            let (tx, ty) = (x2 + NODE_W / 2, y2);
            let mid = (sy + ty) / 2;
            let class = if step.foreach.is_some() {
                "edge foreach"
            } else if step.switch.is_some() {
                "edge switch"
            } else {
                "edge"
            };
            // A switch's edge says which cases take it.
            let cases = step.switch.as_ref().map(|switch| {
                let cases: Vec<&str> = switch
                    .cases
                    .iter()
                    .filter(|(_, target)| target == next)
                    .map(|(case, _)| case.as_str())
                    .collect();
                format!("<title>{}</title>", escape(&cases.join(" or ")))
            });
            out.push_str(&format!(
                "<path class=\"{class}\" d=\"M {sx} {sy} C {sx} {mid}, {tx} {mid}, {tx} {ty}\" \
                 marker-end=\"url(#arrow)\">{}</path>",
                cases.unwrap_or_default()
            ));
        }
    }
    for step in &graph.steps {
        let (x, y) = at[&*step.name];
        let name = escape(&step.name);
        let shown = if step.name.chars().count() > 18 {
            let cut: String = step.name.chars().take(17).collect();
            escape(&format!("{cut}…"))
        } else {
            name.clone()
        };
        let kind = match (&step.foreach, &step.switch, step.join) {
            (Some(over), _, _) => format!("foreach {}", escape(over)),
            (None, Some(switch), _) => format!("switch {}", escape(&switch.condition)),
            (None, None, true) => "join".into(),
            _ => String::new(),
        };
        out.push_str(&format!(
            "<a href=\"#step-{name}\"><g class=\"node {}\" data-step=\"{name}\">\
             <title>{name}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"7\"/>\
             <text x=\"{}\" y=\"{}\">{shown}</text>\
             <text class=\"kind\" x=\"{}\" y=\"{}\">{kind}</text></g></a>",
            status(&step.name),
            x + NODE_W / 2,
            y + if kind.is_empty() { 24 } else { 17 },
            x + NODE_W / 2,
            y + 31,
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfw_graph::Step;

    fn branchy() -> FlowGraph {
        FlowGraph::new("F")
            .with_step(Step::linear("start", ["a", "b"]))
            .with_step(Step::linear("a", ["join"]))
            .with_step(Step::foreach("b", "c", "items"))
            .with_step(Step::linear("c", ["cj"]))
            .with_step(Step::join("cj", ["join"]))
            .with_step(Step::join("join", ["end"]))
            .with_step(Step::end())
    }

    #[test]
    fn a_step_is_one_layer_below_its_deepest_predecessor() {
        let graph = branchy();
        let layer = layers(&graph);
        assert_eq!(layer["start"], 0);
        assert_eq!((layer["a"], layer["b"]), (1, 1));
        assert_eq!(layer["c"], 2);
        assert_eq!(layer["cj"], 3);
        // `join` follows both `a` (layer 1) and `cj` (layer 3).
        assert_eq!(layer["join"], 4);
        assert_eq!(layer["end"], 5);
    }

    #[test]
    fn every_step_and_edge_is_drawn_with_its_status() {
        let graph = branchy();
        let svg = svg(&graph, &|s| if s == "c" { "failed" } else { "done" });
        assert_eq!(svg.matches("<rect").count(), 7);
        assert_eq!(svg.matches("class=\"edge").count(), 7);
        assert_eq!(svg.matches("class=\"edge foreach\"").count(), 1);
        assert!(svg.contains("class=\"node failed\" data-step=\"c\""));
        assert!(svg.contains("foreach items"));
    }

    #[test]
    fn a_switch_draws_its_cases_on_its_edges() {
        let graph = FlowGraph::new("F")
            .with_step(Step::switch(
                "start",
                "mode",
                [("\"fast\"", "a"), ("\"<b>\"", "a"), ("\"slow\"", "end")],
            ))
            .with_step(Step::linear("a", ["end"]))
            .with_step(Step::end());
        let svg = svg(&graph, &|_| "done");
        assert_eq!(svg.matches("class=\"edge switch\"").count(), 2);
        assert!(
            svg.contains("<title>&quot;fast&quot; or &quot;&lt;b&gt;&quot;</title>"),
            "{svg}"
        );
        assert!(svg.contains("<title>&quot;slow&quot;</title>"), "{svg}");
        assert!(svg.contains(">switch mode</text>"), "{svg}");
    }

    #[test]
    fn a_step_name_cannot_inject_markup() {
        let graph = FlowGraph::new("F")
            .with_step(Step::linear("start", ["<script>x</script>"]))
            .with_step(Step::linear("<script>x</script>", ["end"]))
            .with_step(Step::end());
        let svg = svg(&graph, &|_| "done");
        assert!(!svg.contains("<script>"), "{svg}");
    }
}
