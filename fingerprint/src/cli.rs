//! The model flags every command that loads a model shares (feature `cli`): one definition, so
//! `--model`, `--device` and `--threads` read and validate the same everywhere.

use std::path::PathBuf;

use crate::engine::{Engine, EngineOptions};
use crate::error::Result;
use crate::session::Device;

/// `--model`, `--device`, `--threads` (and `GRAIL_MODEL`, `GRAIL_DEVICE`, `GRAIL_THREADS`).
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Model folder (model.onnx, config.json, tokenizer.json, chat_template.jinja).
    #[arg(long = "model", env = "GRAIL_MODEL")]
    pub dir: PathBuf,
    /// `cpu`, `cuda` or `cuda:N`. CUDA is never silently replaced by the CPU.
    #[arg(long, env = "GRAIL_DEVICE", default_value = "cpu")]
    pub device: Device,
    /// ONNX Runtime intra-op threads [default: ONNX Runtime's choice].
    #[arg(long, env = "GRAIL_THREADS")]
    pub threads: Option<usize>,
}

impl ModelArgs {
    /// The engine options these flags ask for.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            device: self.device,
            intra_threads: self.threads,
            ..EngineOptions::default()
        }
    }

    /// Loads the model folder with these options.
    pub fn load(&self) -> Result<Engine> {
        Engine::load(&self.dir, &self.engine_options())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        model: ModelArgs,
    }

    #[test]
    fn flags_parse_into_engine_options_and_bad_devices_are_refused() {
        let cli =
            Cli::try_parse_from(["x", "--model", "m", "--device", "cuda:1", "--threads", "2"])
                .unwrap();
        let options = cli.model.engine_options();
        assert_eq!(options.device, Device::Cuda { device_id: 1 });
        assert_eq!(options.intra_threads, Some(2));
        let cpu = Cli::try_parse_from(["x", "--model", "m"]).unwrap();
        assert_eq!(cpu.model.engine_options().device, Device::Cpu);
        let err = Cli::try_parse_from(["x", "--model", "m", "--device", "tpu"]).unwrap_err();
        assert!(err.to_string().contains("tpu"), "{err}");
    }
}
