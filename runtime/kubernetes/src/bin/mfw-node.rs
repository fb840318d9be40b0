//! `mfw-node`: the node agent for test clusters. Registers a Node and runs
//! the pods bound to it as local processes.

use std::path::PathBuf;

use clap::Parser;

/// Runs pods bound to this node as local processes.
#[derive(Parser, Debug)]
#[command(name = "mfw-node", version, about)]
struct Args {
    /// The Node's name.
    #[arg(long, default_value = "mfw-node")]
    name: String,
    /// The mfw binary pods' `mfw` commands run.
    #[arg(long, env = "MFW_NODE_MFW")]
    mfw: PathBuf,
    /// Where pods get working directories.
    #[arg(long)]
    work_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = mfw_kubernetes::Cluster::connect(None).await?;
    std::fs::create_dir_all(&args.work_dir)?;
    mfw_kubernetes::agent::run_agent(
        cluster.client,
        mfw_kubernetes::agent::AgentConfig {
            node: args.name,
            mfw_binary: args.mfw,
            work_dir: args.work_dir,
        },
    )
    .await?;
    Ok(())
}
