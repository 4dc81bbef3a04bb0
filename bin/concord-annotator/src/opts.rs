//! The options every annotator command takes: the shared chain, wallet and `--json` options plus the local
//! store (below the commands, which read them, and the command line, which parses them).

use clap::Args;
use concord_cli::ConcordArgs;
use concord_client::store::Store;
use concord_client::Concord;
use std::path::PathBuf;

/// The options every annotator command takes.
#[derive(Debug, Clone, Args)]
pub struct AnnotatorArgs {
    #[command(flatten)]
    pub concord: ConcordArgs,
    /// Local store of claims, labels and salts (default: $CONCORD_HOME/annotator-<address>.sqlite).
    #[arg(long, global = true, env = "CONCORD_STORE")]
    pub store: Option<PathBuf>,
}

impl AnnotatorArgs {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.concord.json()
    }

    /// Connects with progress bars unless `--json`.
    pub async fn connect(&self) -> eyre::Result<Concord> {
        Ok(self.concord.connect().await?)
    }

    /// Where generation submissions are recorded (text and salt before each commit): beside --store, else in
    /// Concord's home.
    pub fn generation_home(&self) -> PathBuf {
        self.store
            .as_deref()
            .and_then(|s| s.parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(concord_client::concord_home)
    }

    /// Opens the local store of the signing account.
    pub fn open_store(&self, c: &Concord) -> eyre::Result<Store> {
        let me = c.account()?;
        let p = self.store.clone().unwrap_or_else(|| {
            concord_client::concord_home().join(format!("annotator-{me}.sqlite"))
        });
        Ok(Store::open(&p)?)
    }
}
