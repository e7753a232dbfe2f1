//! Which credentials a thread can legitimately reach from the ones it was known to hold, by the kernel's own
//! rules (`kernel/sys.c` set*id, `security/commoncap.c` capabilities at exec and at set*id, user namespaces).
//!
//! A gain is a user or group id that neither the known ids nor a privilege to change ids explains, or a
//! capability held in the host's user namespace that the known permitted set (or, at exec, root or the file's
//! capabilities) does not cover. Losing privileges is always legitimate.

use rampart_probe::record::TaskCreds;

/// `CAP_SETGID` and `CAP_SETUID` as bits of a capability set.
pub(crate) const CAP_SETGID: u64 = 1 << 6;
pub(crate) const CAP_SETUID: u64 = 1 << 7;
/// Every capability: what a thread holds in a user namespace it just created or entered.
const ALL_CAPS: u64 = u64::MAX;

/// How the thread went from its known credentials to the ones seen.
pub(crate) enum Change<'a> {
    /// A set*id or capset call the probe reported: the kernel checked it against the caller's real
    /// credentials, in the caller's own user namespace.
    Syscall,
    /// No credential call in between (any other event, a new process or thread).
    Silent,
    /// An execve: the new image's set-id bits, root, or file capabilities may add privileges.
    Exec(&'a mut dyn ExecGrant),
}

/// What the image of an exec may grant beyond the caller's credentials.
pub(crate) trait ExecGrant {
    /// A set-user-id bit on the image makes `uid` the effective (and saved, and filesystem) uid.
    fn grants_uid(&mut self, uid: u32) -> bool;
    /// A set-group-id bit (with group execute) makes `gid` the effective gid.
    fn grants_gid(&mut self, gid: u32) -> bool;
    /// Capabilities the image's file capabilities may add (permitted and inheritable sets).
    fn file_caps(&mut self) -> u64;
}

/// What the seen credentials hold that the known ones could not have led to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gained {
    /// Names of the gained ids (`uid`, `euid`, …, `gid`, …), `user_ns` for a return to the host's namespace.
    pub ids: Vec<&'static str>,
    /// Capabilities gained in the host's user namespace.
    pub caps: u64,
}

impl Gained {
    fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.caps == 0
    }

    /// How much was gained, to pick the closest known state.
    fn weight(&self) -> u32 {
        self.ids.len() as u32 + self.caps.count_ones()
    }
}

/// The gain of `seen` over every state in `known` (a thread may be in any of them): `None` when one of them
/// explains `seen`, otherwise the closest state and what `seen` gained over it.
pub(crate) fn gain_over<'k>(
    known: &'k [TaskCreds],
    seen: &TaskCreds,
    change: &mut Change<'_>,
) -> Option<(&'k TaskCreds, Gained)> {
    let mut closest: Option<(&TaskCreds, Gained)> = None;
    for k in known {
        let g = gained(k, seen, change);
        if g.is_empty() {
            return None;
        }
        if closest
            .as_ref()
            .is_none_or(|(_, c)| g.weight() < c.weight())
        {
            closest = Some((k, g));
        }
    }
    closest
}

/// What `seen` holds beyond what `known` can reach through `change` (empty when nothing).
pub(crate) fn gained(known: &TaskCreds, seen: &TaskCreds, change: &mut Change<'_>) -> Gained {
    // Host privileges to change ids explain any id, in the host's namespace or a child one.
    let host_setuid = known.init_user_ns && known.cap_permitted & CAP_SETUID != 0;
    let host_setgid = known.init_user_ns && known.cap_permitted & CAP_SETGID != 0;
    let mut from = *known;
    if from.init_user_ns && !seen.init_user_ns {
        // unshare/setns/clone into a user namespace: the same ids, every capability in the new namespace
        from.init_user_ns = false;
        from.cap_effective = ALL_CAPS;
        from.cap_permitted = ALL_CAPS;
    }
    // A set*id call succeeds with CAP_SETUID in the caller's own namespace (the kernel checked the target id is
    // mapped there). Without a call, ids change only through host privileges: a child namespace's id changes
    // are set*id calls, which the probe reports.
    let syscall = matches!(change, Change::Syscall);
    let may_setuid = host_setuid || (syscall && from.cap_permitted & CAP_SETUID != 0);
    let may_setgid = host_setgid || (syscall && from.cap_permitted & CAP_SETGID != 0);

    let mut g = Gained::default();
    if seen.init_user_ns && !from.init_user_ns {
        g.ids.push("user_ns"); // the kernel has no way back to an ancestor namespace
    }
    // An unprivileged set*id call may pick any of the thread's own ids; an exec's set-id bit sets the
    // effective id (and the saved and filesystem ones with it), never the real one.
    let uids = Ids {
        names: ["uid", "euid", "suid", "fsuid"],
        known: [from.uid, from.euid, from.suid, from.fsuid],
        seen: [seen.uid, seen.euid, seen.suid, seen.fsuid],
        may_set: may_setuid,
    };
    uids.unexplained(change, |grant, id| grant.grants_uid(id), &mut g.ids);
    let gids = Ids {
        names: ["gid", "egid", "sgid", "fsgid"],
        known: [from.gid, from.egid, from.sgid, from.fsgid],
        seen: [seen.gid, seen.egid, seen.sgid, seen.fsgid],
        may_set: may_setgid,
    };
    gids.unexplained(change, |grant, id| grant.grants_gid(id), &mut g.ids);
    if seen.init_user_ns {
        // Outside an exec the permitted set only shrinks, and the effective set stays inside it.
        let held = seen.cap_effective | seen.cap_permitted;
        let mut allowed = if from.init_user_ns {
            from.cap_permitted
        } else {
            0
        };
        if let Change::Exec(grant) = change {
            // Root's exec gets the bounding set (cap_bprm_creds_from_file: euid or real uid 0), when those
            // ids are themselves legitimate; another exec only what file capabilities add.
            let root = (seen.euid == 0 && !g.ids.contains(&"euid"))
                || (seen.uid == 0 && !g.ids.contains(&"uid"));
            if root {
                allowed = ALL_CAPS;
            } else if held & !allowed != 0 {
                allowed |= grant.file_caps();
            }
        }
        g.caps = held & !allowed;
    }
    g
}

/// The real, effective, saved and filesystem user ids (or group ids) of a transition.
struct Ids {
    names: [&'static str; 4],
    known: [u32; 4],
    seen: [u32; 4],
    /// The thread may set any id of this kind (CAP_SETUID or CAP_SETGID where it counts).
    may_set: bool,
}

impl Ids {
    /// Pushes the names of the seen ids that nothing explains.
    fn unexplained(
        &self,
        change: &mut Change<'_>,
        granted: impl Fn(&mut dyn ExecGrant, u32) -> bool,
        out: &mut Vec<&'static str>,
    ) {
        for (i, (name, id)) in self.names.iter().zip(self.seen).enumerate() {
            let explained = self.may_set
                || self.known.contains(&id)
                || match change {
                    Change::Exec(grant) if i > 0 => granted(&mut **grant, id),
                    _ => false,
                };
            if !explained {
                out.push(name);
            }
        }
    }
}
