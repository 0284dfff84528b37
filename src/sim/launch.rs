//! Starting the simulators together (`doorwatch simulate`, `doorwatch demo`) and the
//! config that points doorwatch at them.

use crate::model::Vendor;
use crate::sim::doorflow::{DoorflowSim, DoorflowSimHandle, DoorflowSimOptions};
use crate::sim::kisi::{KisiSim, KisiSimHandle, KisiSimOptions};
use crate::sim::pdk::{PdkSim, PdkSimHandle, PdkSimOptions};
use crate::sim::seam::{SeamSim, SeamSimHandle, SeamSimOptions};
use std::io::Write;
use std::path::Path;

/// What to start.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub vendors: Vec<Vendor>,
    /// Ports `port_base`, `+1`, ... in the order of [`Vendor::ALL`]; `None` = free ports.
    pub port_base: Option<u16>,
    /// Activity per simulator, about events per second.
    pub rate: f64,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            vendors: Vendor::ALL.to_vec(),
            port_base: None,
            rate: 0.5,
        }
    }
}

/// One running simulator.
pub enum Running {
    Kisi(KisiSimHandle),
    Pdk(PdkSimHandle),
    Seam(SeamSimHandle),
    Doorflow(DoorflowSimHandle),
}

impl Running {
    pub fn vendor(&self) -> Vendor {
        match self {
            Running::Kisi(_) => Vendor::Kisi,
            Running::Pdk(_) => Vendor::Pdk,
            Running::Seam(_) => Vendor::Seam,
            Running::Doorflow(_) => Vendor::Doorflow,
        }
    }

    pub fn base_url(&self) -> String {
        match self {
            Running::Kisi(s) => s.base_url(),
            Running::Pdk(s) => s.base_url(),
            Running::Seam(s) => s.base_url(),
            Running::Doorflow(s) => s.base_url(),
        }
    }

    /// The `[[source]]` table that points doorwatch at this simulator, with its test
    /// credentials inline (loopback only).
    pub fn source_toml(&self) -> String {
        let name = format!("sim-{}", self.vendor());
        let head = format!(
            "[[source]]\nname = \"{name}\"\nvendor = \"{}\"\nbase_url = \"{}\"\npoll_interval = \"2s\"\nbackfill = \"2h\"\n",
            self.vendor(),
            self.base_url()
        );
        let creds = match self {
            Running::Kisi(s) => format!("token = \"{}\"\n", s.api_key()),
            Running::Pdk(s) => format!(
                "auth_url = \"{}\"\nsystem_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nhistory_path = \"{}\"\n",
                s.base_url(),
                s.system_id(),
                s.client_id(),
                s.client_secret(),
                crate::sim::pdk::HISTORY_PATH
            ),
            Running::Seam(s) => format!("token = \"{}\"\n", s.api_key()),
            Running::Doorflow(s) => format!(
                "client_id = \"{}\"\nclient_secret = \"{}\"\nrefresh_token = \"{}\"\n",
                s.client_id(),
                s.client_secret(),
                s.initial_refresh_token()
            ),
        };
        head + &creds
    }

    pub async fn shutdown(self) {
        match self {
            Running::Kisi(s) => s.shutdown().await,
            Running::Pdk(s) => s.shutdown().await,
            Running::Seam(s) => s.shutdown().await,
            Running::Doorflow(s) => s.shutdown().await,
        }
    }
}

/// The simulators of one run.
pub struct Simulators {
    pub running: Vec<Running>,
}

/// Vendors with a simulator in this build.
pub fn available(v: Vendor) -> bool {
    let _ = v;
    true
}

impl Simulators {
    pub async fn start(opts: &LaunchOptions) -> anyhow::Result<Simulators> {
        let mut running = Vec::new();
        for (i, vendor) in Vendor::ALL.into_iter().enumerate() {
            if !opts.vendors.contains(&vendor) || !available(vendor) {
                continue;
            }
            let port = match opts.port_base {
                Some(base) => base
                    .checked_add(i as u16)
                    .ok_or_else(|| anyhow::anyhow!("--port-base {base} leaves no room"))?,
                None => 0,
            };
            let bind = |e: std::io::Error| {
                anyhow::anyhow!("{vendor} simulator cannot listen on 127.0.0.1:{port}: {e}")
            };
            let r = match vendor {
                Vendor::Kisi => Running::Kisi(
                    KisiSim::start(KisiSimOptions {
                        port,
                        rate: opts.rate,
                        ..Default::default()
                    })
                    .await
                    .map_err(bind)?,
                ),
                Vendor::Doorflow => Running::Doorflow(
                    DoorflowSim::start(DoorflowSimOptions {
                        port,
                        rate: opts.rate,
                        ..Default::default()
                    })
                    .await
                    .map_err(bind)?,
                ),
                Vendor::Seam => Running::Seam(
                    SeamSim::start(SeamSimOptions {
                        port,
                        rate: opts.rate,
                        ..Default::default()
                    })
                    .await
                    .map_err(bind)?,
                ),
                Vendor::Pdk => Running::Pdk(
                    PdkSim::start(PdkSimOptions {
                        port,
                        rate: opts.rate,
                        ..Default::default()
                    })
                    .await
                    .map_err(bind)?,
                ),
            };
            running.push(r);
        }
        Ok(Simulators { running })
    }

    /// A whole config file for these simulators.
    pub fn config_toml(&self) -> String {
        let mut text = String::from(
            "# Written by `doorwatch simulate`: points doorwatch at simulators on loopback.\n\
             # The credentials below are the simulators' test values, not real secrets;\n\
             # doorwatch accepts them inline only because this file is mode 0600.\n\n",
        );
        for r in &self.running {
            text.push_str(&r.source_toml());
            text.push('\n');
        }
        text
    }

    pub async fn shutdown(self) {
        for r in self.running {
            r.shutdown().await;
        }
    }
}

/// Write `text` to `path` atomically (temp file + rename) with mode 0600.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
