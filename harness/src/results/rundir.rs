//! The directory of one run, written as `<id>.partial` and renamed when complete, so a directory
//! without that suffix is always a finished run; an existing directory is never overwritten.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// A results directory being written.
pub struct RunDir {
    pub final_path: PathBuf,
    pub partial: PathBuf,
}

impl RunDir {
    pub fn create(out: &Path) -> Result<Self> {
        if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
            bail!("results directory {} already exists and is not empty; choose another --out", out.display());
        }
        let name = out.file_name().context("--out needs a directory name")?.to_string_lossy().to_string();
        let partial = out.with_file_name(format!("{name}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).with_context(|| format!("remove stale {}", partial.display()))?;
        }
        std::fs::create_dir_all(&partial).with_context(|| format!("create {}", partial.display()))?;
        Ok(RunDir { final_path: out.to_path_buf(), partial })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.partial.join(file)
    }

    pub fn finish(self) -> Result<PathBuf> {
        if self.final_path.exists() {
            std::fs::remove_dir(&self.final_path)
                .with_context(|| format!("replace empty {}", self.final_path.display()))?;
        }
        std::fs::rename(&self.partial, &self.final_path)
            .with_context(|| format!("rename {} to {}", self.partial.display(), self.final_path.display()))?;
        Ok(self.final_path)
    }
}
