//! `keygen` and `keys show|sign`: the miner's Bittensor hotkey (the `--wallet.*` flags of
//! `grail-cli`).

use anyhow::Context;
use clap::{Args, Subcommand};
use grail_cli::wallet::WalletArgs;
use grail_protocol::keys::Hotkey;
use grail_wallet as wallet;
use serde_json::json;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Replace an existing hotkey file (its secret is lost).
    #[arg(id = "overwrite", long = "overwrite", env = "GRAIL_OVERWRITE", help_heading = "Wallet")]
    overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Read the hotkey file and print `{"ss58", "public_key"}`.
    Show(ShowArgs),
    /// Sign a message with the hotkey (Substrate sr25519 context) and print
    /// `{"ss58", "signature"}`, the signature as 64 bytes of hex.
    Sign(SignArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    wallet: WalletArgs,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// The message bytes as hex (with or without `0x`).
    #[arg(
        id = "message_hex",
        long = "message-hex",
        env = "GRAIL_MESSAGE_HEX",
        help_heading = "Message"
    )]
    message_hex: String,
}

pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let location = args.wallet.location();
    let path = location.hotkey_file();
    // Every WalletError already names the file or the bad name.
    let pair = wallet::generate_hotkey(&location, args.overwrite)?;
    tracing::info!(file = %path.display(), hotkey = %pair.hotkey(), "wrote new hotkey");
    print_key(&pair.hotkey());
    Ok(())
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<()> {
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
