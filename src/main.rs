use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = manyi::cli::Cli::parse();
    match manyi::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`manyi ... | head`) is not an error.
            if let manyi::Error::Io { source, .. } = &err
                && source.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            let err = anyhow::Error::new(err);
            eprintln!("manyi: {}: {err:#}", manyi::messages::t("错误", "error"));
            ExitCode::from(1)
        }
    }
}
