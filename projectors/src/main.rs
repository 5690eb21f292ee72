use clap::Parser;
use projectors::app::Application;
use projectors::config::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if config.log_format == "pretty" { logs.init() } else { logs.json().flatten_event(true).init() }
    if let Some(projectors::config::Command::Rebuild { projection }) = config.command {
        let events = projectors::rebuild::run(&config, projection, |p| {
            let eta = p.eta.map_or_else(|| "?".to_owned(), |eta| format!("{} s", eta.as_secs()));
            eprintln!("rebuilding {}: {} / {} events, {:.0} events/s, eta {eta}", projection.name(), p.done, p.total, p.rate);
        })
        .await?;
        eprintln!("rebuilt {} from {events} events and switched to it", projection.name());
        return Ok(());
    }
    let app = Application::build(config).await?;
    app.run_until_stopped(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    })
    .await
}
