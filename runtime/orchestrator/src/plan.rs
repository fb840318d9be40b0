//! Which component runs which step, and the validated graph.

use std::collections::HashMap;
use std::sync::Arc;

use mfw_graph::{BlobHash, FlowGraph, GraphError, Topology};
use mfw_host::{DefaultsError, LoadedFlow, RunStart};
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

/// Why components do not make one flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyError {
    /// Two components define the same step.
    #[error(
        "step `{step}` is defined twice: in {first} and in {second}; define each step in one component"
    )]
    DuplicateStep {
        /// The step.
        step: String,
        /// The first component.
        first: String,
        /// The second.
        second: String,
    },
    /// Two components declare a parameter differently.
    #[error("parameter `{name}` is declared differently in {first} and {second}")]
    ParameterConflict {
        /// The parameter.
        name: String,
        /// The first component.
        first: String,
        /// The second.
        second: String,
    },
    /// The assembled graph fails its checks; `located` has each problem
    /// prefixed with where its step is defined.
    #[error("flow `{}` has an invalid graph:{}", .error.flow, list(.located))]
    Graph {
        /// The problems.
        error: GraphError,
        /// Each problem, located.
        located: Vec<String>,
    },
}

fn list(lines: &[String]) -> String {
    lines.iter().map(|l| format!("\n  - {l}")).collect()
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
            step_code: Default::default(),
        };
        let step_component = graph.steps.iter().map(|s| (s.name.clone(), 0)).collect();
        Ok(Self {
            graph,
            topology: Arc::new(topology),
            components: vec![(flow, record)],
            step_component,
        })
    }

    /// A flow whose steps are spread over several components, in any
    /// languages: their graphs are merged and the result validated. The
    /// flow takes `name`, or the name the component with `start` gives.
    ///
    /// A step without a `source` gets its component's, so messages always
    /// say where a step came from.
    pub fn assemble(
        components: Vec<(LoadedFlow, String)>,
        name: Option<&str>,
    ) -> Result<Self, AssemblyError> {
        let (graph, owner, records) = merge(&components, name)?;
        let topology = graph.validate().map_err(|error| AssemblyError::Graph {
            located: error.located(&graph),
            error,
        })?;
        Ok(Self {
            graph: Arc::new(graph),
            topology: Arc::new(topology),
            components: components
                .into_iter()
                .map(|(flow, _)| flow)
                .zip(records)
                .collect(),
            step_component: owner,
        })
    }

    /// The merged graph of `components`, not yet validated (for `mfw show`
    /// and `mfw check`, which report what is wrong with it).
    pub fn merged_graph(
        components: &[(LoadedFlow, String)],
        name: Option<&str>,
    ) -> Result<FlowGraph, AssemblyError> {
        merge(components, name).map(|(graph, _, _)| graph)
    }

    /// A run's plan as a remote worker sees it: the run's recorded graph,
    /// and the one component a batch needs (it provides the steps its
    /// record lists).
    pub fn for_worker(
        graph: FlowGraph,
        component: LoadedFlow,
        record: ComponentRecord,
    ) -> Result<Self, OrchestratorError> {
        Self::recorded(graph, vec![(component, record)])
    }

    /// A recorded run's plan (what `mfw replay` re-runs): the run's graph
    /// as recorded, and the components it used, each providing the steps
    /// its record lists.
    pub fn recorded(
        graph: FlowGraph,
        components: Vec<(LoadedFlow, ComponentRecord)>,
    ) -> Result<Self, OrchestratorError> {
        let topology = graph.validate()?;
        let mut step_component = HashMap::new();
        for (index, (_, record)) in components.iter().enumerate() {
            for step in &record.steps {
                step_component.entry(step.clone()).or_insert(index);
            }
        }
        Ok(Self {
            graph: Arc::new(graph),
            topology: Arc::new(topology),
            components,
            step_component,
        })
    }

    /// Records each step's own code identity (as the build that made its
    /// component computed it) so that task keys use it instead of the
    /// component's hash. Only for components built here from source: a
    /// component's claims about itself are not trusted.
    ///
    /// ```ignore
    /// let plan = plan.with_step_code(&built.step_code);
    /// ```
    pub fn with_step_code(mut self, codes: &std::collections::BTreeMap<String, BlobHash>) -> Self {
        for (step, code) in codes {
            if let Some(&index) = self.step_component.get(step)
                && let Some((_, record)) = self.components.get_mut(index)
            {
                record.step_code.insert(step.clone(), *code);
            }
        }
        self
    }

    /// What identifies `step`'s code in task keys: its own code identity
    /// if its build gave one, else its component's hash.
    pub(crate) fn step_code(&self, step: &str) -> Option<BlobHash> {
        let index = *self.step_component.get(step)?;
        let (_, record) = self.components.get(index)?;
        Some(record.step_code.get(step).copied().unwrap_or(record.hash))
    }

    /// The validated graph.
    pub fn graph(&self) -> &FlowGraph {
        &self.graph
    }

    /// Puts `decorator` on every step that has none of its name, as
    /// Metaflow's `run --with retry` does; the run records the result.
    ///
    /// ```ignore
    /// let plan = plan.with_step_decorator(mfw_graph::Decorator::new("retry"));
    /// ```
    pub fn with_step_decorator(mut self, decorator: mfw_graph::Decorator) -> Self {
        let graph = Arc::make_mut(&mut self.graph);
        for step in &mut graph.steps {
            if !step.decorators.iter().any(|d| d.name == decorator.name) {
                step.decorators.push(decorator.clone());
            }
        }
        self
    }

    /// The components and the steps each provides.
    pub fn components(&self) -> impl Iterator<Item = &ComponentRecord> {
        self.components.iter().map(|(_, record)| record)
    }

    /// The defaults computed at run start (Metaflow's deploy-time defaults)
    /// of those of `names` the flow's components compute, each encoded.
    /// Runs the components' `parameter-defaults` export off the async
    /// runtime; a parameter two components compute keeps the first's.
    pub async fn computed_defaults(
        &self,
        names: Vec<String>,
        start: RunStart,
    ) -> Result<Vec<(String, Vec<u8>)>, DefaultsError> {
        let flows: Vec<LoadedFlow> = self.components.iter().map(|(f, _)| f.clone()).collect();
        let computed = tokio::task::spawn_blocking(move || {
            let mut values: Vec<(String, Vec<u8>)> = Vec::new();
            for flow in &flows {
                let pending: Vec<String> = names
                    .iter()
                    .filter(|n| !values.iter().any(|(done, _)| done == *n))
                    .cloned()
                    .collect();
                values.extend(flow.compute_parameter_defaults(&pending, &start)?);
            }
            Ok(values)
        })
        .await;
        computed.unwrap_or_else(|e| {
            Err(DefaultsError::Trapped {
                source_name: self.graph.name.clone(),
                reason: format!("the computation stopped: {e}"),
            })
        })
    }

    /// Fetches a component a run recorded (by hash, verified) and loads it
    /// (compiled, or from the compiled cache) off the async runtime.
    pub(crate) async fn load_recorded(
        store: &mfw_store::Datastore,
        host: &mfw_host::Host,
        record: &ComponentRecord,
    ) -> Result<LoadedFlow, OrchestratorError> {
        let bytes = store.get_component(&record.hash).await?;
        let loader = host.clone();
        let name = record.source.clone();
        tokio::task::spawn_blocking(move || loader.load(&bytes, &name))
            .await
            .map_err(|source| OrchestratorError::Thread {
                what: "cannot load the component",
                source,
            })?
            .map_err(OrchestratorError::from)
    }

    /// The component that runs `step`.
    pub(crate) fn component_for(&self, step: &str) -> Option<&LoadedFlow> {
        let index = *self.step_component.get(step)?;
        self.components.get(index).map(|(flow, _)| flow)
    }
}

type Merged = (FlowGraph, HashMap<String, usize>, Vec<ComponentRecord>);

fn merge(components: &[(LoadedFlow, String)], name: Option<&str>) -> Result<Merged, AssemblyError> {
    let mut steps: Vec<mfw_graph::Step> = Vec::new();
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut parameters: Vec<(mfw_graph::Parameter, usize)> = Vec::new();
    let mut records = Vec::new();
    for (index, (flow, source)) in components.iter().enumerate() {
        let graph = flow.graph();
        for step in &graph.steps {
            if let Some(&first) = owner.get(&step.name) {
                return Err(AssemblyError::DuplicateStep {
                    step: step.name.clone(),
                    first: components[first].1.clone(),
                    second: source.clone(),
                });
            }
            owner.insert(step.name.clone(), index);
            let mut step = step.clone();
            if step.source.is_empty() {
                step.source = source.clone();
            }
            steps.push(step);
        }
        for parameter in &graph.parameters {
            match parameters.iter().find(|(p, _)| p.name == parameter.name) {
                Some((existing, _)) if existing == parameter => {}
                Some((_, first)) => {
                    return Err(AssemblyError::ParameterConflict {
                        name: parameter.name.clone(),
                        first: components[*first].1.clone(),
                        second: source.clone(),
                    });
                }
                None => parameters.push((parameter.clone(), index)),
            }
        }
        records.push(ComponentRecord {
            hash: flow.hash(),
            source: source.clone(),
            sdk: graph.sdk.clone(),
            steps: graph.steps.iter().map(|s| s.name.clone()).collect(),
            step_code: Default::default(),
        });
    }
    let start_owner = owner.get("start").map(|&i| &components[i].0);
    let flow_name = name
        .map(str::to_string)
        .or_else(|| start_owner.map(|f| f.graph().name.clone()))
        .unwrap_or_else(|| "Flow".to_string());
    let mut graph = FlowGraph::new(&flow_name);
    graph.steps = steps;
    graph.parameters = parameters.into_iter().map(|(p, _)| p).collect();
    if let Some(start) = start_owner {
        graph.decorators = start.graph().decorators.clone();
        graph.doc = start.graph().doc.clone();
    }
    graph.sdk = {
        let mut sdks: Vec<&str> = records.iter().map(|r| r.sdk.as_str()).collect();
        sdks.sort_unstable();
        sdks.dedup();
        sdks.join(" + ")
    };
    Ok((graph, owner, records))
}
