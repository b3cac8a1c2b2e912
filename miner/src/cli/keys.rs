//! `keygen` and `keys show|sign`: the miner's Bittensor hotkey. [`WalletArgs`] is shared with
//! every subcommand that signs (flatten it and call [`WalletArgs::load`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use grail_miner::wallet::{self, SecretSource, WalletLocation};
use grail_protocol::keys::{Hotkey, HotkeyPair};
use serde_json::json;

/// Where the hotkey is, with Bittensor's flag names and defaults.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Wallet")]
pub(crate) struct WalletArgs {
    /// Folder of Bittensor wallets (`~` is expanded).
    #[arg(long = "wallet.path", env = "GRAIL_WALLET_PATH", default_value = "~/.bittensor/wallets")]
    pub(crate) path: PathBuf,
    /// Wallet (coldkey) name.
    #[arg(long = "wallet.name", env = "GRAIL_WALLET_NAME", default_value = "default")]
    pub(crate) name: String,
    /// Hotkey name: the key is `{wallet.path}/{wallet.name}/hotkeys/{wallet.hotkey}`.
    #[arg(long = "wallet.hotkey", env = "GRAIL_WALLET_HOTKEY", default_value = "default")]
    pub(crate) hotkey: String,
}

impl WalletArgs {
    pub(crate) fn location(&self) -> WalletLocation {
        WalletLocation {
            path: wallet::expand_tilde(&self.path),
            name: self.name.clone(),
            hotkey: self.hotkey.clone(),
        }
    }

    /// Reads and checks the hotkey file; errors name the file.
    pub(crate) fn load(&self) -> anyhow::Result<HotkeyPair> {
        let path = self.location().hotkey_file();
        let key = wallet::read_hotkey_file(&path)?;
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

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Replace an existing hotkey file (its secret is lost).
    #[arg(long, env = "GRAIL_OVERWRITE")]
    overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Read the hotkey file and print `{"ss58", "public_key"}`.
    Show(ShowArgs),
    /// Sign a message with the hotkey (Substrate sr25519 context) and print
    /// `{"ss58", "signature"}`, the signature as 64 bytes of hex.
    Sign(SignArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    wallet: WalletArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// The message bytes as hex (with or without `0x`).
    #[arg(long = "message-hex", env = "GRAIL_MESSAGE_HEX")]
    message_hex: String,
}

pub(crate) fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let location = args.wallet.location();
    let path = location.hotkey_file();
    // Every WalletError already names the file or the bad name.
    let pair = wallet::generate_hotkey(&location, args.overwrite)?;
    tracing::info!(file = %path.display(), hotkey = %pair.hotkey(), "wrote new hotkey");
    print_key(&pair.hotkey());
    Ok(())
}

pub(crate) fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Show(args) => {
            print_key(&args.wallet.load()?.hotkey());
            Ok(())
        }
        KeysCommand::Sign(args) => {
            let digits = args.message_hex.trim();
            let message = hex::decode(digits.strip_prefix("0x").unwrap_or(digits))
                .context("--message-hex is not valid hex")?;
            let pair = args.wallet.load()?;
            let signature = pair.sign(&message);
            println!(
                "{}",
                json!({"ss58": pair.hotkey().to_ss58(), "signature": hex::encode(signature)})
            );
            Ok(())
        }
    }
}

fn print_key(hotkey: &Hotkey) {
    println!("{}", json!({"ss58": hotkey.to_ss58(), "public_key": hex::encode(hotkey.as_bytes())}));
}
