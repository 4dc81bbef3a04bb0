//! Hardhat's node (npm `hardhat` 2.x from package-lock.json) as a second EVM implementation: the end-to-end test
//! on it shows that the CLIs depend on nothing anvil-specific. Configured by `tests/hardhat/hardhat.config.js`
//! (chain id 31337, the well-known test mnemonic, interval mining only).

use alloy::signers::k256::SecretKey;
use eyre::WrapErr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `hardhat node`, stopped when dropped.
pub struct HardhatNode {
    child: Child,
    endpoint: String,
    keys: Vec<SecretKey>,
}

impl HardhatNode {
    /// Starts `hardhat node` on a free local port and reads its accounts' keys from what it prints.
    pub fn spawn() -> eyre::Result<Self> {
        let hardhat = crate::find_in_project("node_modules/hardhat/internal/cli/bootstrap.js");
        let config = crate::find_in_project("tests/hardhat/hardhat.config.js");
        eyre::ensure!(
            hardhat.is_file() && config.is_file(),
            "hardhat is not installed ({}); run `make deps` first",
            hardhat.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .wrap_err("no free local port for hardhat")?;
        let project: PathBuf = config.parent().map(PathBuf::from).unwrap_or_default();
        let mut child = Command::new("node")
            .arg(&hardhat)
            .args(["--config", &config.display().to_string(), "node"])
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(project)
            .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
            // Hardhat's colours (picocolors) switch on whenever `CI` is set, as on the CI machine: plain text.
            .env("NO_COLOR", "1")
            .env_remove("FORCE_COLOR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .wrap_err("cannot run node for hardhat")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| eyre::eyre!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Hardhat logs every request on stdout: keep draining it for the node's whole life.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut node = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            keys: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut started, mut last_account) = (false, false);
        let mut seen: Vec<String> = Vec::new();
        while !(started && last_account) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => eyre::bail!(
                    "hardhat node did not start within 60 s ({e}); it printed: {:?}",
                    &seen[seen.len().saturating_sub(6)..]
                ),
            };
            // Matched anywhere in the line, so that escape codes around it cannot hide it.
            started |= line.contains("Started HTTP");
            if let Some(hex) = line.trim().strip_prefix("Private Key: 0x") {
                let bytes = alloy::hex::decode(hex).wrap_err("hardhat printed a bad key")?;
                node.keys.push(SecretKey::from_slice(&bytes)?);
            }
            last_account |= started && line.contains("publicly known") && !node.keys.is_empty();
            seen.push(line);
        }
        Ok(node)
    }

    /// The node's JSON-RPC URL.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The funded accounts' keys, in the node's order.
    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }
}

impl Drop for HardhatNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
