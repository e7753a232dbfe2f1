//! Which programs hook the file syscalls (`bpf/file.h`), and their links.
//!
//! Where the kernel has per-syscall tracepoints, one `file_exit_<syscall>` program per file syscall: the
//! other syscalls run nothing. The openat program holds the body and the others tail-call it through
//! `file_exit_body`, so the big program is verified once. Without them (no CONFIG_FTRACE_SYSCALLS, or no
//! tracefs) `file_sys_exit` hooks every syscall's exit instead, at ~120 ns per syscall of every process.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use libbpf_rs::skel::{OpenSkel, Skel};
use libbpf_rs::{Link, MapCore, MapFlags};

use crate::errors::ProbeError;
use crate::skel::{OpenSensorSkel, SensorSkel};
use crate::tracefs::syscall_tracepoint_exists;

const PER_SYSCALL_PREFIX: &str = "file_exit_";
/// The per-syscall program that holds the body (the tail-call target).
const BODY: &str = "file_exit_openat";
const EVERY_SYSCALL: &str = "file_sys_exit";

/// Before load: keeps either the per-syscall programs whose tracepoint exists (under `tracing`), or the
/// every-syscall one. `every_syscall` forces the latter.
pub(crate) fn prepare(open: &mut OpenSensorSkel<'_>, tracing: Option<&Path>, every_syscall: bool) {
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

/// Whether the every-syscall program is the file hook (no per-syscall programs were loaded). It may be
/// loaded in per-syscall mode too, as the ia32 exit program's file body, and is then never attached.
pub(crate) fn every_syscall_mode(skel: &SensorSkel<'_>) -> bool {
    !skel
        .object()
        .progs()
        .any(|p| p.name() == BODY && p.autoload())
}

fn is_file_hook(program: &str) -> bool {
    program.starts_with(PER_SYSCALL_PREFIX) || program == EVERY_SYSCALL
}

/// After load: points the tail calls of the per-syscall programs at the body.
pub(crate) fn link_body(skel: &SensorSkel<'_>) -> Result<(), ProbeError> {
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
///
/// Detaching a tracepoint program waits for the kernel's tracepoint synchronisation: ~60 ms per program
/// here, 2.5 s for all 40, which would stall the agent's event loop each time an activity dump ends. So
/// the links are handed to a thread that drops them one at a time; attaching again takes back the ones
/// it has not dropped yet, after the one it is dropping is gone (a program is never attached twice).
#[derive(Default)]
pub(crate) struct FileHooks {
    /// Attached programs by name.
    links: Vec<(String, Link)>,
    retiring: Arc<Retiring>,
}

#[derive(Default)]
struct Retiring {
    links: Mutex<Vec<(String, Link)>>,
    /// Held while one link is being dropped.
    dropping: Mutex<()>,
}

impl Retiring {
    fn drop_all(&self) {
        loop {
            let _dropping = lock(&self.dropping);
            let Some(link) = lock(&self.links).pop() else {
                return;
            };
            drop(link);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FileHooks {
    /// Every link, attached or waiting for the detach thread, for the caller to drop.
    pub(crate) fn take_links(&mut self) -> Vec<Link> {
        let mut links = std::mem::take(&mut self.links);
        links.append(&mut lock(&self.retiring.links));
        links.into_iter().map(|(_, link)| link).collect()
    }

    /// Attaches every loaded file syscall program, or detaches them all (in the background).
    pub(crate) fn set_attached(
        &mut self,
        skel: &SensorSkel<'_>,
        want: bool,
    ) -> Result<(), ProbeError> {
        if !want {
            if !self.links.is_empty() {
                lock(&self.retiring.links).append(&mut self.links);
                let retiring = Arc::clone(&self.retiring);
                std::thread::Builder::new()
                    .name("rampart-detach".into())
                    .spawn(move || retiring.drop_all())
                    .map_err(|e| ProbeError::Config(format!("starting the detach thread: {e}")))?;
            }
            return Ok(());
        }
        {
            let _dropping = lock(&self.retiring.dropping);
            self.links.append(&mut lock(&self.retiring.links));
        }
        let every_syscall = every_syscall_mode(skel);
        for prog in skel.object().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            if !prog.autoload()
                || !is_file_hook(&name)
                || (name == EVERY_SYSCALL && !every_syscall)
                || self.links.iter().any(|(n, _)| *n == name)
            {
                continue;
            }
            match prog.attach() {
                Ok(link) => self.links.push((name, link)),
                Err(source) => {
                    self.links.clear();
                    return Err(ProbeError::Attach {
                        program: name,
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}
