//! User and group names for ids (`process.user`, `process.group`, …), from the host's /etc/passwd and
//! /etc/group, reloaded when either file changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rampart_model::process::Credentials;

/// A name table read from a colon-separated file whose third column is the numeric id.
#[derive(Debug, Default)]
struct IdTable {
    path: PathBuf,
    mtime: Option<SystemTime>,
    names: HashMap<u32, String>,
}

impl IdTable {
    fn new(path: impl Into<PathBuf>) -> Self {
        let mut table = IdTable {
            path: path.into(),
            ..Default::default()
        };
        table.refresh();
        table
    }

    /// Re-reads the file when its modification time changed; keeps the old table if it can't be read.
    fn refresh(&mut self) {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if mtime.is_some() && mtime == self.mtime {
            return;
        }
        if let Ok(text) = std::fs::read_to_string(&self.path) {
            self.names = parse_id_file(&text);
            self.mtime = mtime;
        }
    }

    fn name(&self, id: u32) -> Option<&str> {
        self.names.get(&id).map(String::as_str)
    }
}

/// Parses passwd/group syntax (`name:x:id:...`) into id → name; the first entry for an id wins.
fn parse_id_file(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let mut cols = line.split(':');
        let (Some(name), Some(_), Some(id)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Ok(id) = id.trim().parse::<u32>() {
            names.entry(id).or_insert_with(|| name.to_string());
        }
    }
    names
}

/// Resolves ids to names for credentials.
#[derive(Debug)]
pub struct UserDirectory {
    users: IdTable,
    groups: IdTable,
}

impl UserDirectory {
    pub fn host() -> Self {
        Self::from_files("/etc/passwd", "/etc/group")
    }

    pub fn from_files(passwd: impl AsRef<Path>, group: impl AsRef<Path>) -> Self {
        UserDirectory {
            users: IdTable::new(passwd.as_ref()),
            groups: IdTable::new(group.as_ref()),
        }
    }

    /// Picks up edits to the files (cheap: one stat each).
    pub fn refresh(&mut self) {
        self.users.refresh();
        self.groups.refresh();
    }

    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.name(uid)
    }

    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups.name(gid)
    }

    /// Fills the name fields of `creds` from its ids.
    pub fn name_credentials(&self, creds: &mut Credentials) {
        let user = |id| self.users.name(id).unwrap_or_default().to_string();
        let group = |id| self.groups.name(id).unwrap_or_default().to_string();
        creds.user = user(creds.uid);
        creds.euser = user(creds.euid);
        creds.fsuser = user(creds.fsuid);
        creds.group = group(creds.gid);
        creds.egroup = group(creds.egid);
        creds.fsgroup = group(creds.fsgid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_names_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        let group = dir.path().join("group");
        std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\ndup:x:33:33::/:/bin/sh\n").unwrap();
        std::fs::write(&group, "root:x:0:\nadm:x:4:syslog\n").unwrap();
        let dir_ = UserDirectory::from_files(&passwd, &group);
        let mut creds = Credentials {
            uid: 33,
            euid: 0,
            fsuid: 1234,
            gid: 4,
            ..Default::default()
        };
        dir_.name_credentials(&mut creds);
        assert_eq!(creds.user, "www-data");
        assert_eq!(creds.euser, "root");
        assert_eq!(creds.fsuser, "");
        assert_eq!(creds.group, "adm");
        assert_eq!(creds.egroup, "root");
    }
}
