//! Which programs hook the file syscalls (`bpf/file.h`), and their links.
//!
//! Where the kernel has per-syscall tracepoints, one `file_exit_<syscall>` program per file syscall: the
//! other syscalls run nothing. The openat program holds the body and the others tail-call it through
//! `file_exit_body`, so the big program is verified once. Without them (no CONFIG_FTRACE_SYSCALLS, or no
//! tracefs) `file_sys_exit` hooks every syscall's exit instead, at ~120 ns per syscall of every process.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use libbpf_rs::skel::{OpenSkel, Skel};
use libbpf_rs::{Link, MapCore, MapFlags};

use crate::errors::ProbeError;
use crate::skel::{OpenProcessSkel, ProcessSkel};
use crate::tracefs::syscall_tracepoint_exists;

const PER_SYSCALL_PREFIX: &str = "file_exit_";
/// The per-syscall program that holds the body (the tail-call target).
const BODY: &str = "file_exit_openat";
const EVERY_SYSCALL: &str = "file_sys_exit";

/// Before load: keeps either the per-syscall programs whose tracepoint exists (under `tracing`), or the
/// every-syscall one. `every_syscall` forces the latter.
pub(crate) fn prepare(open: &mut OpenProcessSkel<'_>, tracing: Option<&Path>, every_syscall: bool) {
    let tracing = tracing.filter(|_| !every_syscall);
    let exists = |syscall: &str| tracing.is_some_and(|dir| syscall_tracepoint_exists(dir, syscall));
    let per_syscall = exists("openat");
    for mut prog in open.open_object_mut().progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        if !is_file_hook(&name) {
            continue;
        }
        let keep = match name.strip_prefix(PER_SYSCALL_PREFIX) {
            Some(syscall) => per_syscall && exists(syscall),
            None => !per_syscall,
        };
        prog.set_autoload(keep);
    }
    if !per_syscall && !every_syscall {
        tracing::info!(
            "no per-syscall tracepoints (tracefs or CONFIG_FTRACE_SYSCALLS missing): the file program hooks every syscall's exit"
        );
    }
}

fn is_file_hook(program: &str) -> bool {
    program.starts_with(PER_SYSCALL_PREFIX) || program == EVERY_SYSCALL
}

/// After load: points the tail calls of the per-syscall programs at the body.
pub(crate) fn link_body(skel: &ProcessSkel<'_>) -> Result<(), ProbeError> {
    let Some(body) = skel
        .object()
        .progs()
        .find(|p| p.name() == BODY && p.autoload())
    else {
        return Ok(());
    };
    let fd = body.as_fd().as_raw_fd();
    skel.maps
        .file_exit_body
        .update(
            &0u32.to_ne_bytes(),
            &(fd as u32).to_ne_bytes(),
            MapFlags::ANY,
        )
        .map_err(|source| ProbeError::Map {
            map: "file_exit_body",
            source,
        })
}

/// The attached file syscall programs (detached on drop).
#[derive(Default)]
pub(crate) struct FileHooks {
    links: Vec<Link>,
}

impl FileHooks {
    /// Attaches every loaded file syscall program, or detaches them all.
    pub(crate) fn set_attached(
        &mut self,
        skel: &ProcessSkel<'_>,
        want: bool,
    ) -> Result<(), ProbeError> {
        if !want {
            self.links.clear();
            return Ok(());
        }
        if !self.links.is_empty() {
            return Ok(());
        }
        for prog in skel.object().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            if !prog.autoload() || !is_file_hook(&name) {
                continue;
            }
            let link = prog.attach().map_err(|source| ProbeError::Attach {
                program: name,
                source,
            });
            match link {
                Ok(link) => self.links.push(link),
                Err(e) => {
                    self.links.clear();
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}
