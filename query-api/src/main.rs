use clap::Parser;
use query_api::app::Application;
use query_api::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format, "query-api", &config.traces);
    let app = Application::build(config).await?;
    let stopped = app.run_until_stopped(telemetry::shutdown_signal()).await;
    telemetry::trace::flush();
    stopped
}
