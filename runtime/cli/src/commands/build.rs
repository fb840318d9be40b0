//! `mfw build` and `mfw check`.

use super::*;

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The flow's directory.
    flow: PathBuf,
    /// Copy the component here.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Rebuild even if the sources did not change.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct FlowArg {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: PathBuf,
}

pub fn build(context: &Context, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let resolved = mfw_build::resolve(
        &args.flow,
        &context.build_options(args.force, &BTreeMap::new()),
    )?;
    if args.output.is_some() && resolved.components.len() != 1 {
        bail!(
            "-o takes one component, but {} has {}",
            args.flow.display(),
            resolved.components.len()
        );
    }
    for component in &resolved.components {
        let hash = blake3::hash(&component.bytes);
        let written = match &args.output {
            Some(output) => {
                std::fs::write(output, &component.bytes)
                    .with_context(|| format!("cannot write {}", output.display()))?;
                output.clone()
            }
            None => component.wasm.clone(),
        };
        eprintln!(
            "mfw: built {} ({} bytes, blake3 {})",
            written.display(),
            component.bytes.len(),
            hash.to_hex()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(context: &Context, args: FlowArg) -> anyhow::Result<ExitCode> {
    let host = context.host(1, false)?;
    let flows = context.load(&args.flow, &host)?;
    let graph = flows.graph()?;
    match graph.validate() {
        Ok(_) => {
            println!(
                "{}: the graph is valid ({} steps)",
                graph.name,
                graph.steps.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", e.report(&graph));
            Ok(ExitCode::from(1))
        }
    }
}
