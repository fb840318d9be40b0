//! `mfw show`: a flow's graph, parameters and decorators, or its lock.

use super::*;

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: PathBuf,
    /// Print the pinned packages the component bundles (its lock).
    #[arg(long)]
    env: bool,
}

fn describe_kind(graph: &FlowGraph, step: &str, kind: Option<&StepKind>) -> String {
    let next = graph
        .step(step)
        .map(|s| s.next.join(", "))
        .unwrap_or_default();
    match kind {
        Some(StepKind::Foreach(over)) => format!("foreach over {over} -> {next}"),
        Some(StepKind::Split) => format!("split -> {next}"),
        Some(StepKind::Switch(_)) => match graph.step(step).and_then(|s| s.switch.as_ref()) {
            Some(switch) => {
                let cases: Vec<String> = switch
                    .cases
                    .iter()
                    .map(|(case, target)| format!("{case} -> {target}"))
                    .collect();
                format!("switch on {}: {}", switch.condition, cases.join(", "))
            }
            None => format!("-> {next}"),
        },
        Some(StepKind::Join { split, .. }) => format!("join of {split} -> {next}"),
        Some(StepKind::End) => "end".to_string(),
        _ => format!("-> {next}"),
    }
}

/// A bundled package, as the build's lock records it.
#[derive(serde::Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    file: String,
    sha256: String,
    /// For a native package mfw built: the sha256 of its source release.
    source_sha256: Option<String>,
    /// For a native package mfw built: the key of the recipe that built it.
    recipe: Option<String>,
}

/// One line per parameter of `graph`: its flag, type, default and help.
pub(crate) fn write_parameters(out: &mut impl Write, graph: &FlowGraph) -> std::io::Result<()> {
    for p in &graph.parameters {
        let default = match &p.default {
            Some(bytes) => mfw_encoding::decode(bytes)
                .map(|v| format!("default {v}"))
                .unwrap_or_default(),
            None if p.required => "required".to_string(),
            None => "optional".to_string(),
        };
        writeln!(
            out,
            "  --{:<16} {:<6} {:<20} {}",
            p.name, p.kind, default, p.help
        )?;
    }
    Ok(())
}

pub fn show(context: &Context, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let host = context.host(1, false)?;
    let flows = context.load(&args.flow, &host)?;
    let graph = &flows.graph()?;
    if args.env {
        let mut out = std::io::stdout().lock();
        for (flow, source) in &flows.components {
            match mfw_host::custom_section(flow.bytes(), "mfw-lock") {
                None => writeln!(out, "{source}: no pinned packages")?,
                Some(lock) => {
                    let packages: Vec<LockedPackage> = serde_json::from_slice(&lock)
                        .context("the component's mfw-lock section is not a valid lock")?;
                    let noun = if packages.len() == 1 {
                        "package"
                    } else {
                        "packages"
                    };
                    writeln!(out, "{source}: {} pinned {noun}", packages.len())?;
                    for p in packages {
                        write!(
                            out,
                            "  {} {}  {}  sha256:{}",
                            p.name, p.version, p.file, p.sha256
                        )?;
                        if let (Some(source), Some(recipe)) = (&p.source_sha256, &p.recipe) {
                            write!(
                                out,
                                "  built from source sha256:{source} by recipe {recipe}"
                            )?;
                        }
                        writeln!(out)?;
                    }
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let topology = graph.validate().ok();
    let mut out = std::io::stdout().lock();
    let hashes: Vec<String> = flows
        .components
        .iter()
        .map(|(f, _)| f.hash().short())
        .collect();
    let noun = if hashes.len() == 1 {
        "component"
    } else {
        "components"
    };
    writeln!(
        out,
        "{}  ({}, {noun} {})",
        graph.name,
        graph.sdk,
        hashes.join(", ")
    )?;
    if !graph.doc.is_empty() {
        writeln!(out, "  {}", graph.doc.replace('\n', "\n  "))?;
    }
    for decorator in &graph.decorators {
        writeln!(out, "  {decorator}")?;
    }
    if !graph.parameters.is_empty() {
        writeln!(out, "\nParameters:")?;
        write_parameters(&mut out, graph)?;
    }
    writeln!(out, "\nSteps:")?;
    for step in &graph.steps {
        let kind = topology.as_ref().and_then(|t| t.kind(&step.name));
        let at = if step.source.is_empty() {
            String::new()
        } else {
            format!("   ({})", step.source)
        };
        writeln!(
            out,
            "  {:<16} {}{at}",
            step.name,
            describe_kind(graph, &step.name, kind)
        )?;
        for decorator in &step.decorators {
            writeln!(out, "  {:<16} {decorator}", "")?;
        }
        if let Some(first) = step.doc.lines().next().filter(|l| !l.is_empty()) {
            writeln!(out, "  {:<16} {first}", "")?;
        }
    }
    if let Err(e) = graph.validate() {
        writeln!(out, "\n{}", e.report(graph))?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
