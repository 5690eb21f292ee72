use std::process::ExitCode;

use clap::Parser;
use orderlog_cli::args::Cli;
use orderlog_cli::output::is_closed_pipe;

fn main() -> ExitCode {
    match orderlog_cli::run(Cli::parse()) {
        Ok(code) => code,
        // `orderlog ... | head` closing the pipe early is a normal way to stop.
        Err(error) if is_closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orderlog: {error:#}");
            ExitCode::from(2)
        }
    }
}
