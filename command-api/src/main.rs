use clap::Parser;
use command_api::app::Application;
use command_api::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init_logs(config.log_format);
    let app = Application::build(config).await?;
    app.run_until_stopped(telemetry::shutdown_signal()).await
}
