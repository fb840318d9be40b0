//! `mfw deploy`, `mfw deployments`, `mfw undeploy` and `mfw event send`:
//! flows that start on their own when another flow's run succeeds
//! (`@trigger_on_finish`) or an event is sent (`@trigger`), on a datastore.
//!
//! A deployment is the flow's components, stored as a package, and a record
//! in the datastore naming what starts it. Whoever finishes a run on that
//! datastore (`mfw run`) or sends an event starts the deployed flows, each
//! as a child `mfw run package:<hash>`, in turn, after its own run.

use mfw_store::{Deployment, RunTrigger};

use super::*;

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: PathBuf,
    /// Accept the grants (files, environment, network) of a component not
    /// built here, for every run the deployment starts.
    #[arg(long, env = "MFW_ALLOW_GRANTS")]
    allow_grants: bool,
    #[command(flatten)]
    configs: super::configs::ConfigArgs,
}

#[derive(clap::Args, Debug)]
pub struct UndeployArgs {
    /// The deployed flow's name.
    flow: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum EventCommand {
    /// Send an event: every flow deployed with `@trigger(event=NAME)` runs.
    Send(SendArgs),
}

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The event's name.
    name: String,
    /// A JSON object: the triggered runs see it as `current.trigger.event`,
    /// and its keys that name a parameter of a flow set that parameter.
    #[arg(long, value_name = "JSON")]
    payload: Option<String>,
}

/// The names in a trigger decorator's `one` (a name, or `{"name": ...}`)
/// and `many` (a list of those) options.
pub(crate) fn trigger_names(
    graph: &FlowGraph,
    decorator: &str,
    one: &str,
    many: &str,
) -> Vec<String> {
    let name_of = |value: &serde_json::Value| match value {
        serde_json::Value::String(name) => Some(name.clone()),
        serde_json::Value::Object(map) => map.get("name").and_then(|n| n.as_str()).map(Into::into),
        _ => None,
    };
    let mut names = Vec::new();
    for d in graph.decorators.iter().filter(|d| d.name == decorator) {
        for (key, text) in &d.options {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
                continue;
            };
            if key == one {
                names.extend(name_of(&value));
            } else if key == many {
                names.extend(value.as_array().into_iter().flatten().filter_map(name_of));
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

pub async fn deploy(context: &Context, args: DeployArgs) -> anyhow::Result<ExitCode> {
    let host = context.host(1, false)?;
    let flows = context.load_configured(&args.flow, &host, &args.configs.for_build()?)?;
    let graph = flows.graph()?;
    flows.plan().map_err(|message| anyhow!(message))?;
    let on_finish = trigger_names(&graph, "trigger_on_finish", "flow", "flows");
    let events = trigger_names(&graph, "trigger", "event", "events");
    if on_finish.is_empty() && events.is_empty() {
        bail!(
            "flow `{}` has no @trigger_on_finish or @trigger: add \
             @trigger_on_finish(flow='TrainFlow') or @trigger(event='data_updated') to the \
             flow to deploy it, or run it with `mfw run`",
            graph.name
        );
    }
    if !args.allow_grants {
        super::run::accept_grants(&flows.grants_to_accept())?;
    }
    let store = context.store()?;
    let package = crate::cluster::store_package(&store, &flows).await?;
    let deployment = Deployment {
        flow: graph.name.clone(),
        package,
        on_finish,
        events,
        deployed_at: mfw_store::now_millis(),
        user: super::run::username(),
        // Built here, or its grants accepted just now.
        allow_grants: true,
        kubernetes: None,
    };
    store.put_deployment(&deployment).await?;
    eprintln!(
        "mfw: deployed {} (package {package}): it runs {}",
        graph.name,
        describe(&deployment)
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn describe(d: &Deployment) -> String {
    let mut when: Vec<String> = d
        .on_finish
        .iter()
        .map(|f| format!("when a run of {f} succeeds"))
        .collect();
    when.extend(
        d.events
            .iter()
            .map(|e| format!("on event {e} (`mfw event send {e}`)")),
    );
    when.join(", ")
}

pub async fn deployments(context: &Context) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let (deployments, damaged) = store.deployments().await?;
    warn_damaged(&damaged);
    if deployments.is_empty() {
        eprintln!("mfw: no flow is deployed on {}", store.location());
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<24} {:<12} {:<20} RUNS", "FLOW", "BY", "DEPLOYED")?;
    for d in &deployments {
        let age = mfw_store::now_millis().saturating_sub(d.deployed_at);
        let deployed = format!("{} ago", format_duration(age));
        writeln!(
            out,
            "{:<24} {:<12} {:<20} {}",
            d.flow,
            d.user,
            deployed,
            describe(d)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn undeploy(context: &Context, args: UndeployArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let (deployments, _) = store.deployments().await?;
    // A flow deployed in a cluster: its CronJob goes too.
    if let Some(place) = deployments
        .iter()
        .find(|d| d.flow == args.flow)
        .and_then(|d| d.kubernetes.as_ref())
    {
        let deleted = async {
            let cluster = mfw_kubernetes::Cluster::connect(Some(&place.namespace)).await?;
            mfw_kubernetes::cron::delete(&cluster, &place.cronjob).await
        };
        match deleted.await {
            Ok(()) => eprintln!("mfw: deleted cronjob {}/{}", place.namespace, place.cronjob),
            Err(e) => eprintln!(
                "mfw: warning: cronjob {}/{} was not deleted: {}",
                place.namespace,
                place.cronjob,
                mfw_host::error_chain(&e)
            ),
        }
    }
    if !store.remove_deployment(&args.flow).await? {
        bail!(
            "flow `{}` is not deployed on {}: `mfw deployments` lists those that are",
            args.flow,
            store.location()
        );
    }
    eprintln!("mfw: {} is no longer deployed", args.flow);
    Ok(ExitCode::SUCCESS)
}

pub async fn event(context: &Context, command: EventCommand) -> anyhow::Result<ExitCode> {
    let EventCommand::Send(args) = command;
    if let Some(payload) = &args.payload {
        let parsed: serde_json::Value = serde_json::from_str(payload).map_err(|e| {
            anyhow!("--payload is not JSON ({e}): give an object, such as '{{\"alpha\": 0.5}}'")
        })?;
        if !parsed.is_object() {
            bail!("--payload must be a JSON object, such as '{{\"alpha\": 0.5}}'");
        }
    }
    let trigger = RunTrigger::Event {
        name: args.name.clone(),
        payload: args.payload,
    };
    if start_triggered(context, &trigger).await? == 0 {
        eprintln!(
            "mfw: no deployed flow listens for event {}: deploy one with @trigger(event='{}')",
            args.name, args.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The flows a trigger chain has started, outermost first: a deployment
/// that would start a flow already in it (A starts B starts A) is skipped.
const CHAIN_VARIABLE: &str = "MFW_TRIGGER_CHAIN";

/// Starts every flow deployed on the datastore that `trigger` starts, one
/// after the other, each as a child `mfw run`; returns how many started.
/// A failed triggered run is reported, and does not stop the others.
pub(crate) async fn start_triggered(
    context: &Context,
    trigger: &RunTrigger,
) -> anyhow::Result<usize> {
    let store = context.store()?;
    let (deployments, damaged) = store.deployments().await?;
    warn_damaged(&damaged);
    let chain: Vec<String> = std::env::var(CHAIN_VARIABLE)
        .unwrap_or_default()
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let started_by = |d: &Deployment| match trigger {
        RunTrigger::Run { flow, .. } => d.starts_on_finish_of(flow),
        RunTrigger::Event { name, .. } => d.starts_on_event(name),
    };
    let mut started = 0;
    for d in deployments.iter().filter(|d| started_by(d)) {
        if chain.contains(&d.flow) {
            eprintln!(
                "mfw: {trigger} would start {} again in one chain ({} -> {}): skipped",
                d.flow,
                chain.join(" -> "),
                d.flow
            );
            continue;
        }
        let mut run_args = vec![
            "--triggered-by".to_string(),
            serde_json::to_string(trigger)?,
        ];
        if d.allow_grants {
            run_args.push("--allow-grants".to_string());
        }
        run_args.extend(payload_parameters(trigger));
        if let Some(place) = &d.kubernetes {
            // In the cluster: a Job from the deployment's CronJob, which
            // runs on its own; this mfw does not wait for it. A cluster that
            // cannot be reached fails that start only, not the run that
            // triggered it.
            let job = async {
                let cluster = mfw_kubernetes::Cluster::connect(Some(&place.namespace)).await?;
                mfw_kubernetes::cron::trigger(&cluster, &place.cronjob, &run_args).await
            };
            match job.await {
                Ok(job) => {
                    eprintln!(
                        "mfw: {trigger} starts {} as job {}/{job}",
                        d.flow, place.namespace
                    );
                    started += 1;
                }
                Err(e) => eprintln!(
                    "mfw: warning: {trigger} could not start {} in namespace {}: {}; `mfw \
                     kubernetes deploy` it again, or `mfw undeploy {}`",
                    d.flow,
                    place.namespace,
                    mfw_host::error_chain(&e),
                    d.flow
                ),
            }
            continue;
        }
        eprintln!("mfw: {trigger} starts {} (deployed by {})", d.flow, d.user);
        let exe = std::env::current_exe().context("cannot find the mfw binary to start it")?;
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("--datastore")
            .arg(&context.datastore)
            .arg("--cache-dir")
            .arg(&context.cache_dir)
            .arg("run")
            .arg(format!("package:{}", d.package))
            .args(&run_args);
        let mut chain = chain.clone();
        chain.push(d.flow.clone());
        command
            .env(CHAIN_VARIABLE, chain.join(","))
            // The run is the deployer's, in their namespace.
            .env("MFW_USER", &d.user);
        match command.status().await {
            Ok(status) if status.success() => {}
            Ok(_) => eprintln!("mfw: the run of {} that {trigger} started failed", d.flow),
            Err(e) => eprintln!("mfw: warning: cannot start {}: {e}", d.flow),
        }
        started += 1;
    }
    Ok(started)
}

/// `--name value` for each key of an event's payload (`trigger_payload:`
/// prefixed keys are left out); a flow without such a parameter ignores
/// it, as Metaflow does.
fn payload_parameters(trigger: &RunTrigger) -> Vec<String> {
    let RunTrigger::Event {
        payload: Some(payload),
        ..
    } = trigger
    else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(payload) else {
        return Vec::new();
    };
    map.into_iter()
        .flat_map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            ["--payload-parameter".to_string(), format!("{name}={text}")]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_come_from_either_form_of_each_decorator() {
        let mut graph = FlowGraph::new("P");
        graph.decorators = vec![
            mfw_graph::Decorator::new("trigger_on_finish").with_option("flows", r#"["A", "B"]"#),
            mfw_graph::Decorator::new("trigger").with_option("event", r#"{"name": "e"}"#),
            mfw_graph::Decorator::new("trigger").with_option("events", r#"["f", {"name": "e"}]"#),
        ];
        assert_eq!(
            trigger_names(&graph, "trigger_on_finish", "flow", "flows"),
            ["A", "B"]
        );
        assert_eq!(
            trigger_names(&graph, "trigger", "event", "events"),
            ["e", "f"]
        );
    }
}
