use clap::Parser;
use command_api::app::{shutdown_signal, Application};
use command_api::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    command_api::telemetry::init_logs(config.log_format);
    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown_signal()).await
}
