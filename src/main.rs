//! The `siagh-sync` command line: parses arguments, loads settings, starts logging and runs
//! the chosen command.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use siagh_sync::config::Settings;
use siagh_sync::startup::Application;
use siagh_sync::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "siagh-sync",
    version,
    about = "Keeps Payamgostar CRM and Siagh in step"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The settings file option of the commands that read settings.
#[derive(Debug, clap::Args)]
struct ConfigFile {
    /// TOML file with settings; keys are the environment variable names (see .env.example).
    /// Environment variables and .env override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sync server: webhooks, admin API and the sync actors.
    Serve(ConfigFile),
    /// Run both simulators and the engine on a throw-away SQLite file, make a few CRM edits and
    /// show what reached Siagh.
    Demo {
        /// Exit after printing the account instead of serving until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
    /// Run the CRM and Siagh simulators for manual testing.
    Sim(siagh_sync::demo::SimArgs),
    /// Import every Siagh contact into the CRM once: link the ones that exist on both sides,
    /// create the rest. Safe to interrupt and run again.
    Import {
        #[command(flatten)]
        config: ConfigFile,
        /// Print the plan (links, creates, skips, reviews) without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// CRM creates in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Most CRM creates started per second.
        #[arg(long, default_value_t = 10)]
        rate: u32,
    },
    /// Apply pending database migrations and exit.
    Migrate(ConfigFile),
    /// Measure the Siagh poller's cycle on a large simulated contact table.
    BenchPoll(siagh_sync::bench::BenchArgs),
    /// Print the upper-case MD5 digest Siagh expects for a password (for SIAGH_PASSWORD_MD5).
    HashPassword {
        /// Read the password from standard input instead of prompting for it.
        #[arg(long)]
        stdin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // On a terminal the import draws a progress bar, which per-record lines would bury.
    let importing_on_terminal =
        matches!(cli.command, Command::Import { .. }) && std::io::stderr().is_terminal();
    siagh_sync::telemetry::init(if importing_on_terminal {
        "warn"
    } else {
        "info"
    });
    let result = match cli.command {
        Command::HashPassword { stdin } => hash_password(stdin),
        Command::Migrate(file) => run_in_system(migrate(file.config)),
        Command::BenchPoll(args) => run_in_system(siagh_sync::bench::run(args)),
        Command::Import {
            config,
            dry_run,
            concurrency,
            rate,
        } => run_in_system(import(
            config.config,
            siagh_sync::import::ImportOptions {
                dry_run,
                concurrency,
                rate_per_second: rate,
            },
        )),
        Command::Serve(file) => run_in_system(serve(file.config)),
        Command::Demo { once } => run_in_system(siagh_sync::demo::run(once)),
        Command::Sim(args) => run_in_system(siagh_sync::demo::run_simulators(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` inside an actix System on a multi-threaded-capable Tokio runtime.
fn run_in_system(
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    actix_rt::System::new().block_on(work)
}

fn load_settings(config: Option<PathBuf>) -> anyhow::Result<Settings> {
    Settings::load(config.as_deref()).context("loading settings")
}

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = load_settings(config)?;
    let application = Application::build(settings).await?;
    application.run_until_stopped().await?;
    tracing::info!("siagh-sync stopped");
    Ok(())
}

async fn import(
    config: Option<PathBuf>,
    options: siagh_sync::import::ImportOptions,
) -> anyhow::Result<()> {
    let settings = load_settings(config)?;
    let summary = siagh_sync::import::run(settings, options).await?;
    if !summary.failed.is_empty() {
        anyhow::bail!(
            "{} contacts failed; run the import again to retry them",
            summary.failed.len()
        );
    }
    Ok(())
}

async fn migrate(config: Option<PathBuf>) -> anyhow::Result<()> {
    let database_url =
        Settings::load_database_url(config.as_deref()).context("loading settings")?;
    Store::migrate(&database_url)
        .await
        .context("applying database migrations")?;
    tracing::info!("database migrations are up to date");
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the digest is the command's output")]
fn hash_password(from_stdin: bool) -> anyhow::Result<()> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("reading the password from standard input")?;
        input.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password("Siagh password: ").context("reading the password")?
    };
    if password.is_empty() {
        anyhow::bail!("the password is empty; type it at the prompt or pipe it to --stdin");
    }
    println!("{}", siagh_sync::siagh::password_md5(&password));
    Ok(())
}
