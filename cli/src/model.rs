//! `--model`, `--device`, `--threads`: the model flags of every command that loads a model.

use std::path::PathBuf;

use grail_fingerprint::{Device, Engine, EngineOptions};

/// The model folder and how to run it.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Model")]
pub struct ModelArgs {
    /// Model folder (model.onnx, config.json, tokenizer.json, chat_template.jinja).
    #[arg(id = "model", long = "model", env = "GRAIL_MODEL", value_name = "DIR")]
    pub dir: PathBuf,
    /// `cpu`, `cuda` or `cuda:N`. CUDA is never silently replaced by the CPU.
    #[arg(id = "device", long = "device", env = "GRAIL_DEVICE", default_value = "cpu")]
    pub device: Device,
    /// ONNX Runtime intra-op threads [default: ONNX Runtime's choice].
    #[arg(id = "threads", long = "threads", env = "GRAIL_THREADS")]
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
    pub fn load(&self) -> grail_fingerprint::Result<Engine> {
        Engine::load(&self.dir, &self.engine_options())
    }

    /// `model.onnx` of the folder.
    pub fn model_file(&self) -> PathBuf {
        self.dir.join(grail_fingerprint::engine::MODEL_FILE)
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
        assert!(err.to_string().contains("--device"), "{err}");
    }
}
