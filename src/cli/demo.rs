//! `doorwatch simulate` and `doorwatch demo`.

use crate::config::Config;
use crate::model::Vendor;
use crate::sim::launch::{self, LaunchOptions, Simulators};
use std::path::Path;
use std::time::Duration;

/// Run the simulators alone, print their URLs, optionally write a config for them.
pub async fn simulate(
    vendors: Vec<Vendor>,
    port_base: Option<u16>,
    rate: f64,
    config_out: Option<&Path>,
    exit_after: Option<Duration>,
) -> anyhow::Result<()> {
    let vendors = if vendors.is_empty() {
        Vendor::ALL.to_vec()
    } else {
        vendors
    };
    for v in &vendors {
        if !launch::available(*v) {
            eprintln!("doorwatch: no {v} simulator in this build yet; skipping it");
        }
    }
    let sims = Simulators::start(&LaunchOptions {
        vendors,
        port_base,
        rate,
    })
    .await?;
    for r in &sims.running {
        println!("{:<9} {}", r.vendor().as_str(), r.base_url());
    }
    if let Some(path) = config_out {
        launch::write_private(path, &sims.config_toml())?;
        println!("config written to {} (mode 0600)", path.display());
    }
    println!("simulating; Ctrl-C to stop");
    crate::daemon::stop_signal(exit_after).await;
    sims.shutdown().await;
    Ok(())
}

/// Simulators plus doorwatch watching them, on a demo store of its own (wiped at
/// start, so a demo never mixes with real history).
pub async fn demo(
    data_dir: &Path,
    exit_after: Option<Duration>,
    flags: crate::cli::console::ConsoleFlags,
) -> anyhow::Result<()> {
    let demo_dir = data_dir.join("demo");
    // A demo already running: watch it rather than wipe it from under it.
    if crate::remote::Client::connect(&demo_dir)?.is_some() {
        let flags = crate::cli::console::ConsoleFlags {
            demo: true,
            ..flags
        };
        let banner = "DEMO: attached to the demo already running";
        return crate::cli::console::run(&Config::default(), &demo_dir, flags, banner, exit_after)
            .await;
    }
    let sims = Simulators::start(&LaunchOptions::default()).await?;
    // Built in memory, never written: the inline test credentials are the
    // simulators' own and the URLs are loopback.
    let config = Config::parse(&sims.config_toml(), None, true)?;
    if demo_dir.exists() {
        std::fs::remove_dir_all(&demo_dir)?;
    }
    let banner = format!(
        "DEMO: doorwatch against built-in simulators ({}) on loopback; store {}. Ctrl-C to stop.",
        sims.running
            .iter()
            .map(|r| r.vendor().as_str())
            .collect::<Vec<_>>()
            .join(", "),
        demo_dir.display()
    );
    let flags = crate::cli::console::ConsoleFlags {
        demo: true,
        ..flags
    };
    let result = crate::cli::console::run(&config, &demo_dir, flags, &banner, exit_after).await;
    sims.shutdown().await;
    result
}
