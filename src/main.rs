//! `doorwatch`: command-line entry. Commands live in the library (`doorwatch::cli`).

use clap::{Parser, Subcommand};
use doorwatch::cli::{self, BadQuery, export::Format};
use doorwatch::config::{self, Config};
use doorwatch::engine::Engine;
use doorwatch::model::Vendor;
use doorwatch::remote::Client;
use doorwatch::remote::protocol::AckRefusal;
use doorwatch::store::EventKey;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// Ingest allocates a few small buffers per event; glibc's allocator spent a third of
// ingest in malloc/free and consolidation (bench/run: 30k → 48k events/s). Built
// without transparent huge pages (Cargo.toml) so RSS shows what is used.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "doorwatch",
    version,
    about = "A terminal security-desk console for cloud access control (Kisi, PDK, Seam, DoorFlow)"
)]
struct Cli {
    /// Config file (default: the platform config dir's doorwatch/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the store and logs live (overrides the config's data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Console: hide acknowledgements and the command line.
    #[arg(long, global = true)]
    read_only: bool,
    /// Console: no bell, no blinking.
    #[arg(long, global = true)]
    quiet: bool,
    /// Console theme: dark, light, high-contrast, colorblind, ansi16, no-color, or a
    /// file name in the config dir's themes/.
    #[arg(long, global = true, value_name = "NAME")]
    theme: Option<String>,
    /// Verbose (debug-level) logs in the data dir's logs/, and on stderr for `daemon`.
    /// Secrets are redacted as everywhere else.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest raw vendor payloads: a JSON array, JSON lines, or the vendor's list page.
    Import {
        /// kisi, pdk, seam or doorflow.
        #[arg(long, value_parser = parse_vendor)]
        vendor: Vendor,
        /// Source name to file the events under (default: the vendor's name).
        #[arg(long)]
        source: Option<String>,
        /// The file, or - for standard input.
        file: PathBuf,
    },
    /// Search history, newest first (e.g. door:"server room" since:2h denied).
    Search {
        /// The query; the empty query lists the newest events.
        query: Vec<String>,
        /// One unified event per line as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after a previous page (the cursor it printed).
        #[arg(long, value_name = "CURSOR")]
        before: Option<EventKey>,
    },
    /// List payloads that could not be parsed, with the reason, oldest first.
    Quarantine {
        /// One record per line as JSON (source, vendor, received_at, error, raw).
        #[arg(long)]
        json: bool,
    },
    /// Alarms that still need someone (not acknowledged, or not cleared).
    Alarms {
        /// One alarm per line as JSON.
        #[arg(long)]
        json: bool,
        /// Also the closed ones (acknowledged and cleared).
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge an alarm (the first acknowledgement wins).
    Ack {
        /// The alarm id, e.g. a-000042.
        id: String,
        #[arg(long, default_value = "")]
        note: String,
        /// Who acknowledges (default: the config's operator, then $USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Run every configured source headless into the store (logs in the data dir).
    Daemon {
        /// Stop after this long (e.g. 30s, 5m), with the store flushed.
        #[arg(long, value_name = "DUR", value_parser = parse_std_duration)]
        exit_after: Option<std::time::Duration>,
    },
    /// Run the vendor simulators on loopback and print their URLs.
    Simulate {
        /// Which simulators (comma list; default all).
        #[arg(long, value_delimiter = ',', value_parser = parse_vendor)]
        vendors: Vec<Vendor>,
        /// First port; the others follow (kisi, pdk, seam, doorflow). Default: free ports.
        #[arg(long, value_name = "N")]
        port_base: Option<u16>,
        /// Activity per simulator, about events per second.
        #[arg(long, value_name = "R", default_value_t = 0.5)]
        rate: f64,
        /// Write a ready config pointing doorwatch at the simulators (mode 0600).
        #[arg(long, value_name = "FILE")]
        config_out: Option<PathBuf>,
        /// Stop after this long (default: until Ctrl-C / SIGTERM).
        #[arg(long, value_name = "DUR", value_parser = parse_std_duration)]
        exit_after: Option<std::time::Duration>,
    },
    /// The demo: built-in simulators for every vendor and doorwatch watching them.
    Demo {
        /// Stop after this long (default: until Ctrl-C / SIGTERM).
        #[arg(long, value_name = "DUR", value_parser = parse_std_duration)]
        exit_after: Option<std::time::Duration>,
    },
    /// Check that the store is consistent (stop the daemon first); exits 1 listing problems.
    ///
    /// Reads every event: each must be readable and stored once, and the indexes must
    /// agree with the events. It reads the store itself, so stop the daemon (or console)
    /// that holds it first. If the store is damaged: stop doorwatch, move <data dir>/store
    /// aside and start again; sources re-fetch their backfill window, and `doorwatch
    /// import` of each source's `raw` payloads from an earlier `export --format jsonl`
    /// restores older history.
    Check,
    /// Export history matching a query (all of it by default).
    Export {
        query: Vec<String>,
        #[arg(long, value_enum)]
        format: Format,
        /// Write here instead of standard output (atomically).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn parse_vendor(s: &str) -> Result<Vendor, String> {
    s.parse()
}

fn parse_std_duration(s: &str) -> Result<std::time::Duration, String> {
    doorwatch::model::parse_duration(s)
        .and_then(|d| d.to_std().ok())
        .ok_or_else(|| format!("`{s}` is not a duration: use e.g. 30s, 5m, 2h"))
}

/// Join query words back into one query. A shell strips the quotes of
/// `door:"server room"` and passes `door:server room`; quote such words again. A word
/// that holds several terms (`'person:jane since:2h'`) is a query of its own: kept as is.
fn join_query(words: &[String]) -> String {
    const FIELDS: [&str; 10] = [
        "door",
        "person",
        "controller",
        "site",
        "kind",
        "vendor",
        "source",
        "severity",
        "since",
        "until",
    ];
    let is_term = |t: &str| {
        t.split_once(':')
            .is_some_and(|(f, _)| FIELDS.contains(&f.to_ascii_lowercase().as_str()))
    };
    words
        .iter()
        .map(|w| {
            let mut parts = w.split_whitespace();
            let first = parts.next().unwrap_or("");
            if !w.contains(char::is_whitespace) || w.contains('"') || parts.any(is_term) {
                return w.clone();
            }
            match w.split_once(':') {
                Some((field, value)) if is_term(first) => format!("{field}:\"{value}\""),
                _ => format!("\"{w}\""),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The config to use: `--config`, else the default file if it exists, else none.
fn load_config(cli: &Cli) -> anyhow::Result<Option<Config>> {
    let path = match &cli.config {
        Some(p) => p.clone(),
        None => match config::default_config_path() {
            Some(p) if p.exists() => p,
            _ => return Ok(None),
        },
    };
    Ok(Some(Config::load(&path)?))
}

/// Logs go to a file in the data dir; to the terminal only with `--debug` for commands
/// that own no screen (`echo_stderr`).
fn init_logging(
    data_dir: &Path,
    debug: bool,
    echo_stderr: bool,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::fmt::writer::MakeWriterExt as _;
    let dir = data_dir.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    // A log dir we may not write (another user's data dir, read through the daemon's
    // socket) means no log, not a panic.
    let appender = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("doorwatch.log")
        .build(dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    // PDK's stream URL carries its token; tungstenite would log it at trace level.
    let default = if debug {
        "info,doorwatch=debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOORWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        .add_directive("tungstenite=off".parse().expect("static directive"))
        .add_directive("tokio_tungstenite=off".parse().expect("static directive"));
    let stderr = std::io::stderr.with_filter(move |_| echo_stderr);
    tracing_subscriber::fmt()
        .with_writer(writer.and(stderr))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli)?;
    let data_dir = config::data_dir(cli.data_dir.as_deref(), config.as_ref());
    // Damage met after the store opened (in a scan, a search) is named here, where the
    // store's directory is known.
    run_command(cli, config, data_dir.clone()).map_err(|e| cli::check::locate_damage(e, &data_dir))
}

fn run_command(cli: Cli, config: Option<Config>, data_dir: PathBuf) -> anyhow::Result<()> {
    let echo_stderr = cli.debug && matches!(cli.command, Some(Command::Daemon { .. }));
    let _log = init_logging(&data_dir, cli.debug, echo_stderr);
    // Secrets in the config print as *** (config::SourceConfig's Debug).
    tracing::debug!(?config, data_dir = %data_dir.display(), "starting");
    let alarm_config = config
        .as_ref()
        .map(Config::alarm_config)
        .unwrap_or_default();
    let operator_default = config
        .as_ref()
        .map_or_else(|| Config::default().operator(), Config::operator);
    let stdout = std::io::stdout();
    let flags = cli::console::ConsoleFlags {
        demo: false,
        read_only: cli.read_only,
        quiet: cli.quiet,
        theme: cli.theme.clone(),
    };
    match cli.command {
        // A running owner of this data dir comes first: a guard without a config of
        // their own attaches to the desk's daemon rather than starting a demo.
        None => match config {
            None if Client::connect(&data_dir)?.is_none() => run_demo(&data_dir, None, flags),
            config => {
                let config = config.unwrap_or_default();
                let rt = tokio::runtime::Runtime::new()?;
                rt.block_on(cli::console::run(
                    &config,
                    &data_dir,
                    flags,
                    "doorwatch: live feed (Ctrl-C to stop)",
                    None,
                ))
            }
        },
        Some(Command::Demo { exit_after }) => run_demo(&data_dir, exit_after, flags),
        Some(Command::Simulate {
            vendors,
            port_base,
            rate,
            config_out,
            exit_after,
        }) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(cli::demo::simulate(
                vendors,
                port_base,
                rate,
                config_out.as_deref(),
                exit_after,
            ))
        }
        Some(Command::Import {
            vendor,
            source,
            file,
        }) => {
            let source = source.unwrap_or_else(|| vendor.to_string());
            let text = cli::import::read_input(&file)?;
            let report = match Client::connect(&data_dir)? {
                Some(mut owner) => cli::import::through(&mut owner, vendor, &source, &text)?,
                None => {
                    let mut engine = Engine::open(&data_dir, alarm_config)?;
                    let report = cli::import::import_text(&mut engine, vendor, &source, &text)?;
                    engine.close()?;
                    report
                }
            };
            tracing::info!(%vendor, %source, "import: {report}");
            println!("{report}");
            Ok(())
        }
        Some(Command::Search {
            query,
            json,
            limit,
            before,
        }) => {
            let text = join_query(&query);
            let query = cli::parse_query(&text)?;
            let mut out = stdout.lock();
            let next = match Client::connect(&data_dir)? {
                Some(mut owner) => {
                    let before = before.map(|k| k.to_string());
                    owner.search_all(&text, limit, before.as_deref(), |e| {
                        let line = if json {
                            cli::search::json_line(e)?
                        } else {
                            cli::search::human_line(e)
                        };
                        writeln!(out, "{line}")?;
                        Ok(())
                    })?
                }
                None => {
                    let store = cli::open_store(&data_dir)?;
                    cli::search::run(&store, &query, limit, before, json, &mut out)?
                        .map(|k| k.to_string())
                }
            };
            out.flush()?;
            if let Some(next) = next {
                eprintln!("{}", cli::search::more_hint(&next));
            }
            Ok(())
        }
        Some(Command::Alarms { json, all }) => {
            let alarms = match Client::connect(&data_dir)? {
                Some(mut owner) => owner.alarms(all)?,
                None => {
                    let mut engine = Engine::open(&data_dir, alarm_config)?;
                    engine.tick(chrono::Utc::now())?;
                    let alarms = engine.alarm_list(all);
                    engine.close()?;
                    alarms
                }
            };
            let mut out = std::io::BufWriter::new(stdout.lock());
            for a in &alarms {
                if json {
                    writeln!(out, "{}", a.to_json())?;
                } else {
                    writeln!(out, "{}", doorwatch::engine::alarm_line(a))?;
                }
            }
            out.flush()?;
            Ok(())
        }
        Some(Command::Ack { id, note, operator }) => {
            let operator = operator.unwrap_or(operator_default);
            let outcome = match Client::connect(&data_dir)? {
                Some(mut owner) => owner.ack(&id, &note, &operator)?,
                None => {
                    let mut engine = Engine::open(&data_dir, alarm_config)?;
                    let outcome = engine.ack(&id, &operator, &note, chrono::Utc::now())?;
                    engine.close()?;
                    outcome.map_err(|e| (AckRefusal::from(&e), e.to_string()))
                }
            };
            match outcome {
                Ok(a) => {
                    println!("{} acknowledged by {operator} ({})", a.id, a.state());
                    Ok(())
                }
                // Someone was first: say who, and that is not a failure.
                Err((AckRefusal::AlreadyAcknowledged, message)) => {
                    println!("{message}");
                    Ok(())
                }
                Err((_, message)) => Err(anyhow::anyhow!(message)),
            }
        }
        Some(Command::Quarantine { json }) => {
            let records = match Client::connect(&data_dir)? {
                Some(mut owner) => owner.quarantine()?,
                None => cli::open_store(&data_dir)?.quarantined()?,
            };
            let mut out = std::io::BufWriter::new(stdout.lock());
            for q in records {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&q)?)?;
                } else {
                    let raw: String = q.raw.chars().take(120).collect();
                    writeln!(
                        out,
                        "{}  {:<12} {:<8} {}\n    {raw}",
                        doorwatch::model::format_time(&q.received_at),
                        q.source,
                        q.vendor.as_str(),
                        q.error
                    )?;
                }
            }
            out.flush()?;
            Ok(())
        }
        Some(Command::Daemon { exit_after }) => {
            if let Some(owner) = Client::connect(&data_dir)? {
                anyhow::bail!(
                    "a doorwatch daemon (pid {}) already owns the store in {}: consoles and \
                     commands attach to it; stop it first to start another",
                    owner.pid,
                    data_dir.display()
                );
            }
            let config_path = cli
                .config
                .clone()
                .or_else(|| config::default_config_path().filter(|p| p.exists()));
            let config = config.unwrap_or_default();
            let engine = Engine::open(&data_dir, alarm_config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(doorwatch::daemon::run(
                &config,
                engine,
                doorwatch::daemon::DaemonOptions {
                    data_dir: &data_dir,
                    config_path: config_path.as_deref(),
                    exit_after,
                },
            ))
        }
        Some(Command::Export {
            query,
            format,
            output,
        }) => {
            let text = join_query(&query);
            let query = cli::parse_query(&text)?;
            let mut owner = Client::connect(&data_dir)?;
            let store = match owner {
                Some(_) => None,
                None => Some(cli::open_store(&data_dir)?),
            };
            let mut write = |out: &mut dyn Write| match (&mut owner, &store) {
                (Some(owner), _) => cli::export::write_from(format, out, |each| {
                    owner.search_all(&text, usize::MAX, None, each).map(|_| ())
                }),
                (None, Some(store)) => cli::export::write_all(store, &query, format, out),
                (None, None) => unreachable!("either an owner or the store"),
            };
            match output {
                Some(path) => {
                    let n = cli::export::to_file_with(&path, &mut write)?;
                    eprintln!("exported {n} events to {}", path.display());
                }
                None => {
                    let mut out = std::io::BufWriter::new(stdout.lock());
                    write(&mut out)?;
                    out.flush()?;
                }
            }
            Ok(())
        }
        Some(Command::Check) => cli::check::run(&data_dir, &mut stdout.lock()),
    }
}

fn run_demo(
    data_dir: &Path,
    exit_after: Option<std::time::Duration>,
    flags: cli::console::ConsoleFlags,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(cli::demo::demo(data_dir, exit_after, flags))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`| head`) is not an error worth a message.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            // Not eprintln!: it panics when stderr is a terminal that hung up.
            let _ = writeln!(std::io::stderr(), "doorwatch: {e:#}");
            if e.downcast_ref::<BadQuery>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_stripped_quotes_come_back() {
        let words = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            join_query(&words(&["door:server room", "since:2h"])),
            "door:\"server room\" since:2h"
        );
        assert_eq!(join_query(&words(&["forced open"])), "\"forced open\"");
        assert_eq!(
            join_query(&words(&["door:\"server room\""])),
            "door:\"server room\""
        );
        assert_eq!(
            join_query(&words(&["person:jane since:2h"])),
            "person:jane since:2h"
        );
        assert_eq!(
            join_query(&words(&["door:server room"])),
            "door:\"server room\""
        );
    }
}
