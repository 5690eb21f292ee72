use clap::Parser;
use projectors::app::Application;
use projectors::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format, "projectors", &config.traces);
    if let Some(projectors::config::Command::Rebuild { projection }) = config.command {
        let events = projectors::rebuild::run(&config, projection, |p| {
            let eta = p
                .eta
                .map_or_else(|| "?".to_owned(), |eta| format!("{} s", eta.as_secs()));
            eprintln!(
                "rebuilding {}: {} / {} events, {:.0} events/s, eta {eta}",
                projection.name(),
                p.done,
                p.total,
                p.rate
            );
        })
        .await?;
        eprintln!(
            "rebuilt {} from {events} events and switched to it",
            projection.name()
        );
        return Ok(());
    }
    // Start-up waits for PostgreSQL as long as it takes; a stop signal meanwhile ends it.
    let app = tokio::select! {
        app = Application::build(config) => app?,
        () = telemetry::shutdown_signal() => {
            tracing::info!("stopped while starting");
            return Ok(());
        }
    };
    let stopped = app.run_until_stopped(telemetry::shutdown_signal()).await;
    telemetry::trace::flush();
    stopped
}
