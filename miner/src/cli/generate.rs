//! `generate`: greedy-decodes one chat prompt with a model folder's chat template, to check a
//! model by eye. Prints `{"prompt", "answer", "tokens", "tokens_per_s"}`.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use grail_challenges::env::ChatMessage;

use grail_fingerprint::cli::ModelArgs;
use grail_fingerprint::Device;
use serde_json::json;

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The user message.
    #[arg(long, env = "GRAIL_PROMPT")]
    prompt: String,
    /// Length cap of the answer, in tokens.
    #[arg(long, env = "GRAIL_MAX_NEW_TOKENS", default_value_t = 64)]
    max_new_tokens: usize,
}

/// Parses `cpu`, `cuda` (device 0) or `cuda:N`.
pub(crate) fn parse_device(s: &str) -> Result<Device, String> {
    s.parse()
}

pub(crate) fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let (mut engine, renderer) = super::load_model(&args.model)?;
    let prompt = renderer
        .prompt_tokens(&[ChatMessage::new("user", args.prompt.as_str())])
        .context("while rendering the prompt")?;
    let stop_ids = engine.config().stop_token_ids.clone();
    let start = Instant::now();
    let out = engine
        .generate_greedy(&prompt, args.max_new_tokens, &stop_ids)
        .context("while generating")?;
    let seconds = start.elapsed().as_secs_f64();
    let answer =
        renderer.decode_completion(&out.tokens, &stop_ids).context("while decoding the answer")?;
    tracing::info!(prompt_tokens = prompt.len(), stop = ?out.stop, seconds, "generated");
    let line = json!({
        "prompt": args.prompt,
        "answer": answer,
        "tokens": out.tokens.len(),
        "tokens_per_s": out.tokens.len() as f64 / seconds.max(1e-9),
    });
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!(parse_device("cpu"), Ok(Device::Cpu));
        assert_eq!(parse_device("cuda"), Ok(Device::Cuda { device_id: 0 }));
        assert_eq!(parse_device("cuda:2"), Ok(Device::Cuda { device_id: 2 }));
        assert!(parse_device("gpu").unwrap_err().contains("cpu, cuda or cuda:N"));
        assert!(parse_device("cuda:x").is_err());
    }
}
