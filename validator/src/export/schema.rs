//! The JSON Schema of one exported row (a JSON Lines line, an HTTP page's row), published as
//! `docs/export/rollout.schema.json`.

use serde_json::{json, Value};

/// The JSON Schema (draft 2020-12) of a [`RolloutRow`](super::RolloutRow).
pub fn json_schema() -> Value {
    let uint = |max: u64, about: &str| json!({"type": "integer", "minimum": 0, "maximum": max, "description": about});
    let text = |about: &str| json!({"type": "string", "minLength": 1, "description": about});
    let tokens = |about: &str| json!({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": u32::MAX}, "description": about});
    let number = |about: &str| json!({"type": "number", "description": about});
    let flag = |about: &str| json!({"type": "boolean", "description": about});
    let properties = json!({
        "window": uint(u64::MAX, "Window number."),
        "hotkey": text("The miner's hotkey, SS58."),
        "uid": uint(u64::from(u16::MAX), "The miner's uid in the window's metagraph."),
        "problem_index": uint(u64::from(u32::MAX), "Problem index within the window."),
        "rollout_index": uint(u64::from(u32::MAX), "Rollout index within the problem's group."),
        "environment": text("Environment id (sat, arith, ...)."),
        "environment_version": uint(u64::from(u32::MAX), "Version of the environment's generator and reward."),
        "prompt_tokens": tokens("Prompt tokens as the chat template renders them."),
        "completion_tokens": tokens("Sampled completion tokens."),
        "logprobs": {
            "type": "array",
            "items": {"type": "number"},
            "description": "ln p of each completion token under the sampling distribution (32-bit floats); as long as completion_tokens."
        },
        "reward": number("Reward of the completion (32-bit float)."),
        "success": flag("Whether the completion solved the problem."),
        "advantage": number("GRPO advantage within the group (32-bit float)."),
        "model_id": text("The model's id: CIDv1 of its canonical weights."),
        "file_cid": text("CID of the window file the rollout came from."),
        "checked": flag("Whether the validator checked this rollout itself; false: only the file it is in passed."),
    });
    let required: Vec<&str> =
        properties.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "grail-rs verified rollout",
        "description": "One rollout of a window file whose miner passed verification, as `grail-validator export --format jsonl` writes it (one object per line) and GET /rollouts serves it.",
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}
