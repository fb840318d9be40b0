//! Bounded fuzzing of the graph validator, run by CI as property tests: a
//! component's graph, however wrong, is checked quickly and either accepted
//! with a topology that covers its steps or refused with its problems.

use mfw_graph::{FlowGraph, Step};
use proptest::collection::vec;
use proptest::prelude::*;

/// A graph over a few names, so transitions often hit real steps, with
/// joins and foreach markers at random.
fn graph() -> impl Strategy<Value = FlowGraph> {
    let names = ["start", "end", "a", "b", "c", "d", "e", "x1"];
    let step = (
        0..names.len(),
        vec(0..names.len(), 0..4),
        any::<bool>(),
        proptest::option::of("[a-z]{1,3}"),
    )
        .prop_map(move |(name, next, join, foreach)| {
            let next: Vec<&str> = next.into_iter().map(|i| names[i]).collect();
            let mut step = if join {
                Step::join(names[name], next)
            } else {
                Step::linear(names[name], next)
            };
            step.foreach = foreach;
            step
        });
    vec(step, 0..10).prop_map(|steps| {
        steps
            .into_iter()
            .fold(FlowGraph::new("FuzzFlow"), |g, s| g.with_step(s))
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 5000,
        // Nothing written into the repository; a failure prints its input.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_graph_is_accepted_whole_or_refused_with_reasons(graph in graph()) {
        match graph.validate() {
            Ok(topology) => {
                // Every step is reachable and ordered once.
                prop_assert_eq!(topology.order().len(), graph.steps.len());
                prop_assert_eq!(topology.order().first().map(String::as_str), Some("start"));
            }
            Err(err) => prop_assert!(!err.problems.is_empty()),
        }
    }

    #[test]
    fn graphs_from_json_text_never_panic(text in ".{0,200}") {
        if let Ok(graph) = serde_json::from_str::<FlowGraph>(&text) {
            let _ = graph.validate();
        }
    }
}
