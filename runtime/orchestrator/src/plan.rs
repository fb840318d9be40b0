//! Which component runs which step, and the validated graph.

use std::collections::HashMap;
use std::sync::Arc;

use mfw_graph::{FlowGraph, Topology};
use mfw_host::LoadedFlow;
use mfw_store::ComponentRecord;

use crate::OrchestratorError;

/// A flow ready to run: its validated graph, and the components holding
/// its steps.
#[derive(Clone)]
pub struct FlowPlan {
    pub(crate) graph: Arc<FlowGraph>,
    pub(crate) topology: Arc<Topology>,
    pub(crate) components: Vec<(LoadedFlow, ComponentRecord)>,
    pub(crate) step_component: HashMap<String, usize>,
}

impl FlowPlan {
    /// A flow whose steps all live in one component; `source` is how the
    /// user named it. Validates the graph.
    pub fn single(flow: LoadedFlow, source: &str) -> Result<Self, OrchestratorError> {
        let graph = flow.graph_arc();
        let topology = graph.validate()?;
        let record = ComponentRecord {
            hash: flow.hash(),
            source: source.to_string(),
            sdk: graph.sdk.clone(),
            steps: graph.steps.iter().map(|s| s.name.clone()).collect(),
        };
        let step_component = graph.steps.iter().map(|s| (s.name.clone(), 0)).collect();
        Ok(Self {
            graph,
            topology: Arc::new(topology),
            components: vec![(flow, record)],
            step_component,
        })
    }

    /// The validated graph.
    pub fn graph(&self) -> &FlowGraph {
        &self.graph
    }

    /// The component that runs `step`.
    pub(crate) fn component_for(&self, step: &str) -> Option<&LoadedFlow> {
        let index = *self.step_component.get(step)?;
        self.components.get(index).map(|(flow, _)| flow)
    }
}
