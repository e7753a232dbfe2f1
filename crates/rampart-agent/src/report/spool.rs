//! The on-disk spool: matches are appended to `active.jsonl` (one JSON object per line); the active segment
//! is sealed into `batch-<seq>.jsonl` when full or old enough; sealed batches are sent oldest first and
//! deleted only once the server acknowledged them. Everything survives agent restarts and server outages.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

const ACTIVE: &str = "active.jsonl";

pub struct Spool {
    dir: PathBuf,
    active: Option<File>,
    active_lines: usize,
    active_bytes: usize,
    opened_at: Instant,
    next_seq: u64,
}

fn batch_name(seq: u64) -> String {
    format!("batch-{seq:020}.jsonl")
}

fn is_batch(name: &str) -> bool {
    name.starts_with("batch-") && name.ends_with(".jsonl")
}

/// Creates `dir` (and its parents) if missing and makes it mode 0700: a directory left wider by an
/// earlier version or by hand is narrowed.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Spool {
    /// Opens the spool directory (created if missing, readable by its owner only whatever the umask: it
    /// holds the agent's credential and every match's event). A segment left active by a previous run is
    /// sealed first so that it is sent before anything new.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        private_dir(dir)?;
        private_dir(&dir.join("rejected"))?;
        let next_seq = sealed(dir)?
            .iter()
            .filter_map(|p| {
                p.file_name()?
                    .to_str()?
                    .strip_prefix("batch-")?
                    .get(..20)?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .map_or(1, |m| m + 1);
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            active: None,
            active_lines: 0,
            active_bytes: 0,
            opened_at: Instant::now(),
            next_seq,
        };
        let leftover = dir.join(ACTIVE);
        if leftover.exists() {
            let len = std::fs::metadata(&leftover)?.len();
            if len > 0 {
                spool.active_lines = 1; // non-empty: seal it as is (a torn last line is dropped when read)
                spool.seal()?;
            } else {
                std::fs::remove_file(&leftover)?;
            }
        }
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one line (already newline-terminated) with a single write.
    pub fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.active.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(self.dir.join(ACTIVE))?;
            self.active = Some(f);
            self.opened_at = Instant::now();
        }
        let f = self.active.as_mut().expect("opened above");
        if let Err(e) = f.write_all(line) {
            // A short write (disk full) leaves a torn line: the reader drops it; start a fresh segment so
            // the next line does not get glued to it.
            self.active_lines += 1;
            let _ = self.seal();
            return Err(e);
        }
        self.active_lines += 1;
        self.active_bytes += line.len();
        Ok(())
    }

    pub fn active_lines(&self) -> usize {
        self.active_lines
    }

    pub fn active_bytes(&self) -> usize {
        self.active_bytes
    }

    pub fn active_age(&self) -> std::time::Duration {
        self.opened_at.elapsed()
    }

    /// Turns the active segment into the next sealed batch (fsynced).
    pub fn seal(&mut self) -> std::io::Result<()> {
        if self.active_lines == 0 {
            return Ok(());
        }
        if let Some(f) = self.active.take() {
            f.sync_data()?;
        }
        let to = self.dir.join(batch_name(self.next_seq));
        std::fs::rename(self.dir.join(ACTIVE), &to)?;
        sync_dir(&self.dir);
        self.next_seq += 1;
        self.active_lines = 0;
        self.active_bytes = 0;
        Ok(())
    }
}

/// Sealed batches, oldest first.
pub fn sealed(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(is_batch))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// The complete lines of a batch file (a torn last line from a crash mid-write is dropped), and how many
/// bytes were dropped.
pub fn read_lines(path: &Path) -> std::io::Result<(Vec<Vec<u8>>, usize)> {
    let data = std::fs::read(path)?;
    let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let lines = data[..complete]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok((lines, data.len() - complete))
}

/// Replaces a batch the server found too large by two halves that sort in its place.
pub fn split(path: &Path) -> std::io::Result<bool> {
    let (lines, _) = read_lines(path)?;
    if lines.len() < 2 {
        return Ok(false);
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("batch")
        .to_string();
    let dir = path.parent().unwrap_or(Path::new("."));
    let (a, b) = lines.split_at(lines.len() / 2);
    for (suffix, part) in [("a", a), ("b", b)] {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(format!("{stem}{suffix}.jsonl.tmp")))?;
        for l in part {
            f.write_all(l)?;
            f.write_all(b"\n")?;
        }
        f.sync_data()?;
        std::fs::rename(
            dir.join(format!("{stem}{suffix}.jsonl.tmp")),
            dir.join(format!("{stem}{suffix}.jsonl")),
        )?;
    }
    std::fs::remove_file(path)?;
    sync_dir(dir);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_in_order_and_recovers_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        s.append(b"{\"n\":1}\n").unwrap();
        s.seal().unwrap();
        s.append(b"{\"n\":2}\n").unwrap();
        s.append(b"{\"n\":3").unwrap(); // torn by a crash
        drop(s);
        let s = Spool::open(dir.path()).unwrap();
        let batches = sealed(dir.path()).unwrap();
        assert_eq!(batches.len(), 2);
        assert!(batches[0] < batches[1]);
        let (lines, torn) = read_lines(&batches[1]).unwrap();
        assert_eq!((lines, torn), (vec![b"{\"n\":2}".to_vec()], 6));
        assert_eq!(s.active_lines(), 0);
        assert!(
            split(&batches[0]).is_ok_and(|split| !split),
            "one line cannot be split"
        );
    }

    #[test]
    fn splits_keep_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        for i in 0..5 {
            s.append(format!("{i}\n").as_bytes()).unwrap();
        }
        s.seal().unwrap();
        s.append(b"9\n").unwrap();
        s.seal().unwrap();
        let first = sealed(dir.path()).unwrap()[0].clone();
        assert!(split(&first).unwrap());
        let all: Vec<Vec<u8>> = sealed(dir.path())
            .unwrap()
            .iter()
            .flat_map(|p| read_lines(p).unwrap().0)
            .collect();
        assert_eq!(
            all,
            ["0", "1", "2", "3", "4", "9"].map(|s| s.as_bytes().to_vec())
        );
    }
}
