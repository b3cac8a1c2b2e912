//! `generate`: greedy-decodes one chat prompt with a model folder's chat template, to check a
//! model by eye. Prints `{"prompt", "answer", "tokens", "tokens_per_s"}`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use grail_challenges::env::ChatMessage;
use grail_challenges::prompt::PromptRenderer;
use grail_fingerprint::{Device, Engine, EngineOptions};
use serde_json::json;

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Model folder (model.onnx, config.json, tokenizer.json, chat_template.jinja).
    #[arg(long, env = "GRAIL_MODEL")]
    model: PathBuf,
    /// The user message.
    #[arg(long, env = "GRAIL_PROMPT")]
    prompt: String,
    /// Length cap of the answer, in tokens.
    #[arg(long, env = "GRAIL_MAX_NEW_TOKENS", default_value_t = 64)]
    max_new_tokens: usize,
    /// `cpu`, `cuda` or `cuda:N`. CUDA is never silently replaced by the CPU.
    #[arg(long, env = "GRAIL_DEVICE", default_value = "cpu", value_parser = parse_device)]
    device: Device,
    /// ONNX Runtime intra-op threads (default: ONNX Runtime's choice).
    #[arg(long, env = "GRAIL_THREADS")]
    threads: Option<usize>,
}

/// Parses `cpu`, `cuda` (device 0) or `cuda:N`.
pub(crate) fn parse_device(s: &str) -> Result<Device, String> {
    s.parse()
}

pub(crate) fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let options = EngineOptions {
        device: args.device,
        intra_threads: args.threads,
        ..EngineOptions::default()
    };
    let mut engine = Engine::load(&args.model, &options)
        .with_context(|| format!("while loading the model folder {}", args.model.display()))?;
    let renderer = PromptRenderer::from_model_dir(&args.model)
        .with_context(|| format!("while loading the chat template of {}", args.model.display()))?;
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
