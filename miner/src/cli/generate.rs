//! `generate`: greedy-decodes one chat prompt with a model folder's chat template, to check a
//! model by eye. Prints `{"prompt", "answer", "tokens", "tokens_per_s"}`.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use grail_challenges::env::ChatMessage;
use grail_challenges::prompt::PromptRenderer;
use grail_cli::model::ModelArgs;
use serde_json::json;

/// `generate`'s flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The user message.
    #[arg(id = "prompt", long = "prompt", env = "GRAIL_PROMPT", help_heading = "Generation")]
    prompt: String,
    /// Length cap of the answer, in tokens.
    #[arg(
        id = "max_new_tokens",
        long = "max-new-tokens",
        env = "GRAIL_MAX_NEW_TOKENS",
        default_value_t = 64,
        help_heading = "Generation"
    )]
    max_new_tokens: usize,
}

/// Runs `generate`.
pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let dir = args.model.dir.display();
    let mut engine =
        args.model.load().with_context(|| format!("while loading the model folder {dir}"))?;
    let renderer = PromptRenderer::from_model_dir(&args.model.dir)
        .with_context(|| format!("while loading the chat template of {dir}"))?;
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
