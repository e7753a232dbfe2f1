//! The `hash` action: sha256, sha1 and md5 of the file a rule names (`exec.file`, `open.file`, …).
//!
//! Only matches of rules with a `hash` action pay for it, never the per-event path. Files larger than the
//! configured bound are not read; results are cached by (device, inode, size, mtime), so a binary that runs
//! again costs one `stat`. Paths are opened through `/proc/PID/root` so a container's file is the one hashed.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use md5::Md5;
use rampart_model::fields::{registry, Val};
use rampart_model::{Event, FileInfo};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Default largest file hashed.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
const CACHE_ENTRIES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashOutcome {
    Done,
    /// Larger than the bound: not read.
    TooLarge,
    /// The file could not be opened or read (gone, permission).
    Unavailable,
}

/// The result of one `hash` action, merged into its `actions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HashReport {
    pub outcome: HashOutcome,
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sha1: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub md5: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    inode: u64,
    size: u64,
    mtime_ns: i64,
}

pub struct Hasher {
    max_size: u64,
    cache: HashMap<FileKey, (String, String, String)>,
    pub hashed: u64,
    pub cache_hits: u64,
}

impl Hasher {
    pub fn new(max_size: u64) -> Self {
        Hasher {
            max_size,
            cache: HashMap::new(),
            hashed: 0,
            cache_hits: 0,
        }
    }

    /// Hashes the file at `field` (e.g. `exec.file`) of `event`.
    pub fn hash(&mut self, field: &str, event: &Event) -> HashReport {
        let path = file_path(field, event).unwrap_or_default();
        let report = |outcome, detail: String| HashReport {
            outcome,
            path: path.clone(),
            sha256: String::new(),
            sha1: String::new(),
            md5: String::new(),
            detail,
        };
        if path.is_empty() {
            return report(
                HashOutcome::Unavailable,
                format!("the event has no `{field}.path`"),
            );
        }
        // Through the process's root: the path is as the process saw it (a container's own filesystem).
        let candidates = [
            PathBuf::from(format!("/proc/{}/root{path}", event.process.pid)),
            PathBuf::from(&path),
        ];
        let Some(file) = candidates.iter().find_map(|p| std::fs::File::open(p).ok()) else {
            return report(HashOutcome::Unavailable, "cannot open the file".into());
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => return report(HashOutcome::Unavailable, e.to_string()),
        };
        if meta.len() > self.max_size {
            return report(
                HashOutcome::TooLarge,
                format!("{} bytes, limit {}", meta.len(), self.max_size),
            );
        }
        let key = FileKey {
            dev: meta.dev(),
            inode: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        };
        let (sha256, sha1, md5) = match self.cache.get(&key) {
            Some(h) => {
                self.cache_hits += 1;
                h.clone()
            }
            None => match digest(file) {
                Ok(h) => {
                    self.hashed += 1;
                    if self.cache.len() >= CACHE_ENTRIES {
                        self.cache.clear();
                    }
                    self.cache.insert(key, h.clone());
                    h
                }
                Err(e) => return report(HashOutcome::Unavailable, e.to_string()),
            },
        };
        HashReport {
            outcome: HashOutcome::Done,
            path,
            sha256,
            sha1,
            md5,
            detail: String::new(),
        }
    }
}

fn digest(mut file: std::fs::File) -> std::io::Result<(String, String, String)> {
    let (mut a, mut b, mut c) = (Sha256::new(), Sha1::new(), Md5::new());
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        a.update(&buf[..n]);
        b.update(&buf[..n]);
        c.update(&buf[..n]);
    }
    Ok((hex(&a.finalize()), hex(&b.finalize()), hex(&c.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records a successful report as `<field>.hashes` (`sha256:…`, `sha1:…`, `md5:…`) on the event itself,
/// where Datadog's model keeps them.
pub fn attach(event: &mut Event, field: &str, report: &HashReport) {
    if report.outcome != HashOutcome::Done {
        return;
    }
    if let Some(file) = file_mut(event, field) {
        file.hashes = vec![
            format!("sha256:{}", report.sha256),
            format!("sha1:{}", report.sha1),
            format!("md5:{}", report.md5),
        ];
    }
}

fn file_mut<'a>(event: &'a mut Event, field: &str) -> Option<&'a mut FileInfo> {
    use rampart_model::EventData as D;
    if field == "process.file" {
        let node = std::sync::Arc::make_mut(&mut event.process.node);
        return Some(&mut std::sync::Arc::make_mut(&mut node.process).file);
    }
    let target = match (&mut event.data, field) {
        (D::Exec(p), "exec.file") => return Some(&mut std::sync::Arc::make_mut(p).file),
        (D::Open(e), "open.file") => &mut e.file,
        (D::Unlink(e), "unlink.file") => &mut e.file,
        (D::Splice(e), "splice.file") => &mut e.file,
        (D::Mmap(e), "mmap.file") => &mut e.file,
        (D::LoadModule(e), "load_module.file") => &mut e.file,
        (data, _) if field.ends_with(".file") => &mut data.plain_file_mut()?.file,
        _ => return None,
    };
    Some(&mut target.file)
}

/// The value of `<field>.path` in the event, through the field registry.
fn file_path(field: &str, event: &Event) -> Option<String> {
    let def = registry().get(&format!("{field}.path"))?;
    let mut out = None;
    def.visit(event, None, &mut |v| {
        if let Val::Str(s) = v {
            out = Some(s.to_string());
        }
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::{EventData, FileInfo, Process, ProcessContext, ProcessNode};

    fn exec_of(path: &str) -> Event {
        let p = Process {
            pid: std::process::id(),
            file: FileInfo::from_path(path),
            ..Default::default()
        };
        let node = ProcessNode::new(p, None);
        Event::new(
            1,
            ProcessContext::new(node.clone()),
            EventData::Exec(node.process.clone()),
        )
    }

    #[test]
    fn hashes_known_content_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("abc");
        std::fs::write(&f, "abc").unwrap();
        let mut h = Hasher::new(DEFAULT_MAX_SIZE);
        let r = h.hash("exec.file", &exec_of(f.to_str().unwrap()));
        assert_eq!(r.outcome, HashOutcome::Done);
        assert_eq!(
            r.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(r.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        let mut ev = exec_of(f.to_str().unwrap());
        attach(&mut ev, "exec.file", &r);
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            json["exec"]["file"]["hashes"][0],
            format!("sha256:{}", r.sha256)
        );
        assert_eq!(r.md5, "900150983cd24fb0d6963f7d28e17f72");
        h.hash("exec.file", &exec_of(f.to_str().unwrap()));
        assert_eq!((h.hashed, h.cache_hits), (1, 1));
        // A changed file is hashed again.
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&f, "abcd").unwrap();
        let r = h.hash("exec.file", &exec_of(f.to_str().unwrap()));
        assert_eq!(r.md5, "e2fc714c4727ee9395f324cd2e7f331f");
        assert_eq!(h.hashed, 2);
    }

    #[test]
    fn bounded_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![0u8; 2048]).unwrap();
        let mut h = Hasher::new(1024);
        assert_eq!(
            h.hash("exec.file", &exec_of(f.to_str().unwrap())).outcome,
            HashOutcome::TooLarge
        );
        assert_eq!(
            h.hash("exec.file", &exec_of("/nonexistent/x")).outcome,
            HashOutcome::Unavailable
        );
        assert_eq!(
            h.hash("open.file", &exec_of("/bin/true")).outcome,
            HashOutcome::Unavailable
        );
    }
}
