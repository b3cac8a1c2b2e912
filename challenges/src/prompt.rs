//! Prompt rendering with the model's chat template, and tokenization (DESIGN.md 3.3).
//!
//! Rendering follows what HF `apply_chat_template(..., add_generation_prompt=True,
//! tokenize=True)` does: the Jinja template (minijinja, with `trim_blocks` and `lstrip_blocks`
//! on and the trailing newline of the template source dropped, as HF's Jinja environment does)
//! gets `messages`, `add_generation_prompt = true`, and `bos_token`/`eos_token` when
//! `tokenizer_config.json` names them (left undefined otherwise, which renders as empty text).
//! `raise_exception(msg)` is provided; Python string methods (`.strip()`...) and `{% break %}`
//! are not, which SmolLM2's ChatML template does not need.
//!
//! The rendered text is encoded without adding special tokens again (no BOS/EOS from the
//! post-processor); special tokens written in the text, like `<|im_start|>`, are matched by the
//! tokenizer's added-token table and map to their ids.
//!
//! Decoding keeps special tokens (`skip_special_tokens = false`, as the reference validator
//! does), so a completion that emits `<|im_start|>` mid-answer is scored with that text in it.
//! [`PromptRenderer::decode_completion`] drops one final stop token first: the token that ended
//! generation is not part of the answer.

use std::path::{Path, PathBuf};

use minijinja::Value;
use tokenizers::Tokenizer;

use crate::env::{ChatMessage, Problem};

/// File names read from a model folder.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

const TEMPLATE_NAME: &str = "chat_template";

/// Errors of prompt rendering and tokenization.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("{path} is not valid JSON or has a bad field: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("no chat template in {dir}: expected {CHAT_TEMPLATE_FILE} or a \"chat_template\" string in {TOKENIZER_CONFIG_FILE}")]
    MissingTemplate { dir: PathBuf },
    #[error("chat template from {source_name} does not parse: {reason}")]
    TemplateSyntax { source_name: String, reason: String },
    #[error("chat template from {source_name} failed to render: {reason}")]
    Render { source_name: String, reason: String },
    #[error("tokenizer failed to encode the prompt: {reason}")]
    Encode { reason: String },
    #[error("token id {id} at position {position} is outside the vocabulary (size {vocab_size})")]
    TokenOutOfVocabulary { id: u32, position: usize, vocab_size: usize },
    #[error("tokenizer failed to decode: {reason}")]
    Decode { reason: String },
}

/// A model's chat template and tokenizer: turns a problem's messages into prompt token ids.
#[derive(Debug)]
pub struct PromptRenderer {
    env: minijinja::Environment<'static>,
    template_source_name: String,
    tokenizer: Tokenizer,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl PromptRenderer {
    /// Loads `chat_template.jinja` (or `tokenizer_config.json`'s `chat_template`),
    /// `tokenizer.json`, and `tokenizer_config.json` if present, from a model folder.
    pub fn from_model_dir(dir: &Path) -> Result<Self, PromptError> {
        let config_path = dir.join(TOKENIZER_CONFIG_FILE);
        let config =
            if config_path.exists() { Some(TokenizerConfig::read(&config_path)?) } else { None };
        let template_path = dir.join(CHAT_TEMPLATE_FILE);
        let (template, template_source_name) = if template_path.exists() {
            (read_text(&template_path)?, template_path.display().to_string())
        } else {
            match config.as_ref().and_then(|c| c.chat_template.clone()) {
                Some(t) => (t, config_path.display().to_string()),
                None => return Err(PromptError::MissingTemplate { dir: dir.to_path_buf() }),
            }
        };
        let tokenizer_path = dir.join(TOKENIZER_FILE);
        if !tokenizer_path.exists() {
            return Err(PromptError::Read {
                path: tokenizer_path,
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| {
            PromptError::Tokenizer { path: tokenizer_path.clone(), reason: e.to_string() }
        })?;
        let (bos, eos) = config.map_or((None, None), |c| (c.bos_token, c.eos_token));
        Self::from_parts(template, &template_source_name, tokenizer, bos, eos)
    }

    /// Builds a renderer from a template source and a tokenizer already in memory.
    /// `source_name` names where the template came from, for error messages.
    pub fn from_parts(
        template: String,
        source_name: &str,
        tokenizer: Tokenizer,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self, PromptError> {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, template).map_err(|e| {
            PromptError::TemplateSyntax {
                source_name: source_name.to_owned(),
                reason: format!("{e:#}"),
            }
        })?;
        Ok(Self {
            env,
            template_source_name: source_name.to_owned(),
            tokenizer,
            bos_token,
            eos_token,
        })
    }

    /// The chat-template text for `messages`, ending with the assistant generation prompt.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, PromptError> {
        let render_err = |e: minijinja::Error| PromptError::Render {
            source_name: self.template_source_name.clone(),
            reason: format!("{e:#}"),
        };
        let template = self.env.get_template(TEMPLATE_NAME).map_err(render_err)?;
        let mut ctx = std::collections::BTreeMap::new();
        ctx.insert("messages", Value::from_serialize(messages));
        ctx.insert("add_generation_prompt", Value::from(true));
        if let Some(bos) = &self.bos_token {
            ctx.insert("bos_token", Value::from(bos.as_str()));
        }
        if let Some(eos) = &self.eos_token {
            ctx.insert("eos_token", Value::from(eos.as_str()));
        }
        template.render(ctx).map_err(render_err)
    }

    /// Token ids of `text`, without adding special tokens; special-token text maps to its id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, PromptError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| PromptError::Encode { reason: e.to_string() })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The prompt token ids of a chat: render, then encode.
    pub fn prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, PromptError> {
        self.encode(&self.render(messages)?)
    }

    /// The prompt token ids of a problem; the validator requires the miner's to equal these.
    pub fn problem_tokens(&self, problem: &Problem) -> Result<Vec<u32>, PromptError> {
        self.prompt_tokens(&problem.messages)
    }

    /// Text of `ids`, keeping special tokens. Ids outside the vocabulary are an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String, PromptError> {
        let vocab_size = self.vocab_size();
        if let Some((position, &id)) =
            ids.iter().enumerate().find(|(_, &id)| id as usize >= vocab_size)
        {
            return Err(PromptError::TokenOutOfVocabulary { id, position, vocab_size });
        }
        self.tokenizer.decode(ids, false).map_err(|e| PromptError::Decode { reason: e.to_string() })
    }

    /// Text of a completion for scoring: drops the last token if it is one of `stop_ids`
    /// (the token that ended generation), then decodes keeping special tokens.
    pub fn decode_completion(&self, ids: &[u32], stop_ids: &[u32]) -> Result<String, PromptError> {
        let body = match ids.split_last() {
            Some((last, rest)) if stop_ids.contains(last) => rest,
            _ => ids,
        };
        self.decode(body)
    }

    /// Vocabulary size including added tokens; every valid id is below it.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The id of a token string (special tokens included), if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The `eos_token` string from `tokenizer_config.json`, if it named one.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// The underlying tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
}

fn read_text(path: &Path) -> Result<String, PromptError> {
    std::fs::read_to_string(path)
        .map_err(|source| PromptError::Read { path: path.to_path_buf(), source })
}

/// The fields of HF's `tokenizer_config.json` that rendering uses.
#[derive(Debug, Default)]
struct TokenizerConfig {
    chat_template: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl TokenizerConfig {
    fn read(path: &Path) -> Result<Self, PromptError> {
        let bad = |reason: String| PromptError::Config { path: path.to_path_buf(), reason };
        let json: serde_json::Value =
            serde_json::from_str(&read_text(path)?).map_err(|e| bad(e.to_string()))?;
        // Special tokens are either a string or an AddedToken object with `content`.
        let token = |field: &str| -> Result<Option<String>, PromptError> {
            match json.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => match v.get("content").and_then(|c| c.as_str()) {
                    Some(s) => Ok(Some(s.to_owned())),
                    None => {
                        Err(bad(format!("{field} is neither a string nor {{\"content\": ...}}")))
                    }
                },
            }
        };
        let chat_template = match json.get("chat_template") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("chat_template is not a string".to_owned())),
        };
        Ok(Self { chat_template, bos_token: token("bos_token")?, eos_token: token("eos_token")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Environment, SatEnv};

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny")
    }

    fn renderer() -> PromptRenderer {
        PromptRenderer::from_model_dir(&fixture_dir()).expect("tiny fixture loads")
    }

    /// A scratch folder unique to this test process and name.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("grail-prompt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    fn chat(system: Option<&str>, user: &str) -> Vec<ChatMessage> {
        let mut m: Vec<ChatMessage> =
            system.map(|s| ChatMessage::new("system", s)).into_iter().collect();
        m.push(ChatMessage::new("user", user));
        m
    }

    #[test]
    fn renders_chatml_like_smollm2() {
        let text = renderer().render(&chat(Some("Be brief."), "Hi there")).expect("renders");
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn loop_first_inserts_the_default_system_prompt() {
        let text = renderer().render(&chat(None, "Hi")).expect("renders");
        assert!(text.starts_with(
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by \
             Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        ));
        assert_eq!(text.matches("<|im_start|>system").count(), 1);
    }

    #[test]
    fn special_tokens_map_to_their_ids_and_round_trip() {
        let r = renderer();
        let (start, end) = (r.token_id("<|im_start|>"), r.token_id("<|im_end|>"));
        assert_eq!((start, end), (Some(1), Some(2)));
        let problem = SatEnv.generate([5; 32]);
        let text = r.render(&problem.messages).expect("renders");
        let ids = r.problem_tokens(&problem).expect("encodes");
        assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 3, "system, user, assistant");
        assert_eq!(ids.iter().filter(|&&i| i == 2).count(), 2);
        assert_eq!(ids[0], 1, "no BOS or other token added in front");
        assert!(ids.iter().all(|&i| (i as usize) < r.vocab_size()));
        assert_eq!(r.decode(&ids).expect("decodes"), text);
        // The pieces between special tokens encode as ordinary text.
        let piece = r.encode("system\n").expect("encodes");
        assert_eq!(&ids[1..1 + piece.len()], piece.as_slice());
    }

    #[test]
    fn encoding_does_not_add_special_tokens_again() {
        // The same tokenizer with a post-processor that prepends <|endoftext|> (id 0).
        let path = fixture_dir().join(TOKENIZER_FILE);
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        json["post_processor"] = serde_json::json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<|endoftext|>":
                {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}
        });
        let tokenizer: Tokenizer = json.to_string().parse().expect("tokenizer parses");
        assert_eq!(tokenizer.encode("hi", true).expect("encodes").get_ids()[0], 0);
        let template =
            std::fs::read_to_string(fixture_dir().join(CHAT_TEMPLATE_FILE)).expect("template");
        let r =
            PromptRenderer::from_parts(template, "test", tokenizer, None, None).expect("renderer");
        let ids = r.prompt_tokens(&chat(Some("s"), "u")).expect("encodes");
        assert_eq!(ids[0], 1);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn decode_completion_drops_one_final_stop_token() {
        let r = renderer();
        let mut ids = r.encode("<SOLUTION>1 0</SOLUTION>").expect("encodes");
        ids.push(2);
        assert_eq!(r.decode_completion(&ids, &[2, 0]).expect("ok"), "<SOLUTION>1 0</SOLUTION>");
        assert_eq!(
            r.decode_completion(&ids, &[0]).expect("ok"),
            "<SOLUTION>1 0</SOLUTION><|im_end|>",
            "special tokens are kept when they are not the stop token"
        );
        ids.push(2);
        assert_eq!(
            r.decode_completion(&ids, &[2]).expect("ok"),
            "<SOLUTION>1 0</SOLUTION><|im_end|>"
        );
        assert_eq!(r.decode_completion(&[], &[2]).expect("ok"), "");
    }

    #[test]
    fn out_of_vocabulary_ids_are_an_error() {
        let r = renderer();
        let bad = r.vocab_size() as u32;
        let err = r.decode(&[1, bad]).expect_err("out of vocabulary");
        assert!(
            matches!(err, PromptError::TokenOutOfVocabulary { id, position: 1, .. } if id == bad)
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = scratch("errors");
        let err = PromptRenderer::from_model_dir(&dir).expect_err("empty dir");
        assert!(matches!(err, PromptError::MissingTemplate { .. }), "{err}");
        assert!(err.to_string().contains(CHAT_TEMPLATE_FILE), "{err}");

        std::fs::write(dir.join(CHAT_TEMPLATE_FILE), "{% for m in messages %}").expect("write");
        std::fs::write(dir.join(TOKENIZER_FILE), "{}").expect("write");
        let err = PromptRenderer::from_model_dir(&dir).expect_err("bad tokenizer");
        assert!(err.to_string().contains(TOKENIZER_FILE), "{err}");

        std::fs::copy(fixture_dir().join(TOKENIZER_FILE), dir.join(TOKENIZER_FILE)).expect("cp");
        let err = PromptRenderer::from_model_dir(&dir).expect_err("bad template");
        assert!(matches!(err, PromptError::TemplateSyntax { .. }), "{err}");
        assert!(err.to_string().contains(CHAT_TEMPLATE_FILE), "{err}");

        std::fs::write(dir.join(TOKENIZER_CONFIG_FILE), "{\"eos_token\": 3}").expect("write");
        let err = PromptRenderer::from_model_dir(&dir).expect_err("bad config");
        assert!(err.to_string().contains("eos_token"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn template_from_tokenizer_config_with_special_tokens() {
        let dir = scratch("config");
        std::fs::copy(fixture_dir().join(TOKENIZER_FILE), dir.join(TOKENIZER_FILE)).expect("cp");
        let config = serde_json::json!({
            "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}\
                {% endfor %}{% if messages|length > 5 %}{{ raise_exception('too long') }}{% endif %}",
            "bos_token": "<|im_start|>",
            "eos_token": {"content": "<|im_end|>", "special": true},
        });
        std::fs::write(dir.join(TOKENIZER_CONFIG_FILE), config.to_string()).expect("write");
        let r = PromptRenderer::from_model_dir(&dir).expect("loads");
        assert_eq!(r.eos_token(), Some("<|im_end|>"));
        let text = r.render(&chat(None, "a")).expect("renders");
        assert_eq!(text, "<|im_start|>a<|im_end|>");
        assert_eq!(r.encode(&text).expect("encodes").first(), Some(&1));
        let long: Vec<ChatMessage> = (0..6).map(|_| ChatMessage::new("user", "x")).collect();
        let err = r.render(&long).expect_err("raise_exception");
        assert!(err.to_string().contains("too long"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
