//! The processes of the soak: started with their output appended to files (a restart adds to
//! the same files), killed with SIGKILL, and watched for their peak resident memory.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::Context;

/// One role's process, restartable.
pub(crate) struct Proc {
    pub(crate) name: String,
    program: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    child: Option<Child>,
    /// Largest peak resident set (VmHWM) seen of any of its runs, kB.
    pub(crate) peak_kb: u64,
    /// Runs started.
    pub(crate) starts: u32,
}

impl Proc {
    pub(crate) fn new(name: &str, program: &Path, logs: &Path) -> Self {
        Self {
            name: name.to_owned(),
            program: program.to_path_buf(),
            stdout: logs.join(format!("{name}.out")),
            stderr: logs.join(format!("{name}.log")),
            child: None,
            peak_kb: 0,
            starts: 0,
        }
    }

    pub(crate) fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    pub(crate) fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// Starts a run with `args`.
    pub(crate) fn start(&mut self, args: impl IntoIterator<Item = OsString>) -> anyhow::Result<()> {
        let append = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("open {}", p.display()))
        };
        let child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(append(&self.stdout)?)
            .stderr(append(&self.stderr)?)
            .spawn()
            .with_context(|| format!("start {} ({})", self.name, self.program.display()))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    pub(crate) fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Reads the run's peak resident set into [`Proc::peak_kb`].
    pub(crate) fn sample(&mut self) {
        if let Some(child) = &self.child {
            if let Some(kb) = peak_kb(child.id()) {
                self.peak_kb = self.peak_kb.max(kb);
            }
        }
    }

    /// SIGKILL; true if a run was killed.
    pub(crate) fn kill(&mut self) -> bool {
        self.sample();
        let Some(mut child) = self.child.take() else { return false };
        let _ = child.kill();
        let _ = child.wait();
        true
    }

    /// The run's exit status once it has ended (the run is then forgotten).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.sample();
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            _ => None,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// VmHWM of process `pid`, kB.
fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Arguments from string slices and paths.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$(std::ffi::OsString::from($a)),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_run_is_restarted_into_the_same_files_and_its_memory_is_read() {
        let dir = std::env::temp_dir().join(format!("grail-soak-procs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Proc::new("sh", Path::new("/bin/sh"), &dir);
        p.start(args!["-c", "echo one; sleep 30"]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(p.kill());
        assert!(p.peak_kb > 0, "VmHWM of a running shell");
        assert!(!p.kill(), "nothing left to kill");
        p.start(args!["-c", "echo two; exit 3"]).unwrap();
        let status = loop {
            if let Some(s) = p.exited() {
                break s;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(std::fs::read_to_string(p.stdout_path()).unwrap(), "one\ntwo\n");
        assert_eq!(p.starts, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
