//! `--wallet.path`, `--wallet.name`, `--wallet.hotkey`: a Bittensor wallet hotkey, as the
//! Bittensor tools name it.

use std::path::PathBuf;

use grail_protocol::keys::HotkeyPair;
use grail_wallet::{expand_tilde, read_hotkey_file, SecretSource, WalletError, WalletLocation};

/// Where the hotkey lives.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Wallet")]
pub struct WalletArgs {
    /// Folder of Bittensor wallets.
    #[arg(
        id = "wallet.path",
        long = "wallet.path",
        env = "GRAIL_WALLET_PATH",
        default_value = "~/.bittensor/wallets"
    )]
    pub path: PathBuf,
    /// Wallet (coldkey) name.
    #[arg(
        id = "wallet.name",
        long = "wallet.name",
        env = "GRAIL_WALLET_NAME",
        default_value = "default"
    )]
    pub name: String,
    /// Hotkey name.
    #[arg(
        id = "wallet.hotkey",
        long = "wallet.hotkey",
        env = "GRAIL_WALLET_HOTKEY",
        default_value = "default"
    )]
    pub hotkey: String,
}

impl WalletArgs {
    /// The hotkey these flags name, `~` expanded.
    pub fn location(&self) -> WalletLocation {
        self.location_of(&self.hotkey)
    }

    /// Another hotkey of the same wallet.
    pub fn location_of(&self, hotkey: &str) -> WalletLocation {
        WalletLocation {
            path: expand_tilde(&self.path),
            name: self.name.clone(),
            hotkey: hotkey.to_owned(),
        }
    }

    /// Reads the hotkey, logging which file and layout it came from.
    pub fn load(&self) -> Result<HotkeyPair, WalletError> {
        let path = self.location().hotkey_file();
        let key = read_hotkey_file(&path)?;
        match key.source {
            SecretSource::SecretSeed => {}
            SecretSource::PrivateKey | SecretSource::PrivateKeyEd25519 => tracing::warn!(
                file = %path.display(),
                layout = ?key.source,
                "hotkey file has no secretSeed; using the 64-byte privateKey"
            ),
        }
        tracing::info!(file = %path.display(), hotkey = %key.pair.hotkey(), "loaded hotkey");
        Ok(key.pair)
    }
}
