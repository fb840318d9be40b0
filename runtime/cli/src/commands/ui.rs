//! `mfw ui`: the web UI over the datastore.

use super::*;

#[derive(clap::Args, Debug)]
pub struct UiArgs {
    /// The port to listen on.
    #[arg(long, default_value_t = mfw_ui::DEFAULT_PORT)]
    port: u16,
    /// The address to listen on; anything but a loopback address makes
    /// the UI reachable from other machines and needs --token.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// The token every visitor must present (the printed address carries
    /// it). Required with a non-loopback --bind.
    #[arg(long, env = "MFW_UI_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub async fn ui(context: &Context, args: UiArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let options = mfw_ui::UiOptions {
        addr: std::net::SocketAddr::new(args.bind, args.port),
        token: args.token,
        vega_dir: Some(context.cache_dir.join("ui")),
        ..mfw_ui::UiOptions::default()
    };
    let ui = mfw_ui::Ui::bind(store, options).await?;
    for note in ui.notes() {
        eprintln!("mfw ui: {note}");
    }
    println!(
        "mfw ui: {} (the datastore {}); Ctrl-C stops it",
        ui.url(),
        context.datastore
    );
    tokio::select! {
        served = ui.serve() => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
