//! [`Probe`]: opens, configures, loads and attaches the process programs, and drains their ring buffer.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, RingBuffer, RingBufferBuilder};

use crate::config::{env_name_hash, ProbeConfig};
use crate::decode::Decoder;
use crate::errors::ProbeError;
use crate::liblog;
use crate::preflight::{self, Lockdown};
use crate::record::ProbeRecord;
use crate::skel::{OpenSensorSkel, SensorSkel, SensorSkelBuilder};
use crate::stats::ProbeStats;

/// Decoded records waiting for the caller of [`Probe::poll`], filled by the ring-buffer callback.
#[derive(Default)]
struct Inbox {
    records: Vec<ProbeRecord>,
}

/// The loaded and attached process probe (exec, fork, exit).
pub struct Probe {
    // Drop order matters (see Drop): the ring buffer, then the skeleton, then the object storage they borrow.
    ring: ManuallyDrop<RingBuffer<'static>>,
    skel: ManuallyDrop<SensorSkel<'static>>,
    object: NonNull<MaybeUninit<OpenObject>>,
    inbox: Arc<Mutex<Inbox>>,
    decode_errors: Arc<AtomicU64>,
    poll_interval: Duration,
    lockdown: Lockdown,
    /// Links of the kernel, network and DNS activity programs.
    activity: crate::kernel::attach::ActivityLinks,
    /// Kill slots currently armed in the kernel (see `kill.rs`).
    pub(crate) kill_slots_armed: u32,
    /// Links of the file syscall programs (attached while a filter or a dump needs them).
    file_hooks: crate::file::hooks::FileHooks,
    /// Links of the ia32 compat syscall programs (attached while a file or activity hook is).
    ia32: crate::ia32::Ia32Hooks,
    /// The activity hooked natively, which the ia32 programs mirror.
    activity_config: crate::kernel::config::ActivityConfig,
    /// Links of the io_uring request programs (attached while a file or network event type is wanted).
    uring: crate::uring::UringHooks,
    /// The file filter has a type on (the file program must be attached).
    pub(crate) file_filters_on: bool,
    /// Cgroups being profiled (activity dumps): the file program must be attached for them too.
    pub(crate) dump_cgroups: Vec<u64>,
}

// SAFETY: the skeleton and ring buffer are Send (libbpf-rs says so); `object` is owned exclusively by this
// Probe and only touched again in Drop.
unsafe impl Send for Probe {}

impl Probe {
    /// Checks privileges, BTF and lockdown, then loads and attaches the programs.
    pub fn load(config: ProbeConfig) -> Result<Probe, ProbeError> {
        config.validate()?;
        let lockdown = preflight::check_all(&config.btf_path)?;

        // The skeleton borrows its OpenObject for its whole life: give it a stable heap slot that Drop frees
        // after the skeleton is gone.
        let object = NonNull::from(Box::leak(Box::new(MaybeUninit::<OpenObject>::uninit())));
        match Self::load_into(object, &config, lockdown) {
            Ok(probe) => Ok(probe),
            Err(e) => {
                // SAFETY: load_into dropped every borrow of `object` before returning an error.
                drop(unsafe { Box::from_raw(object.as_ptr()) });
                Err(e)
            }
        }
    }

    fn load_into(
        object: NonNull<MaybeUninit<OpenObject>>,
        config: &ProbeConfig,
        lockdown: Lockdown,
    ) -> Result<Probe, ProbeError> {
        // SAFETY: `object` is a live, exclusively owned allocation that outlives the skeleton (see Drop).
        let storage: &'static mut MaybeUninit<OpenObject> = unsafe { &mut *object.as_ptr() };
        let (opened, log) =
            liblog::with_captured_log(|| SensorSkelBuilder::default().open(storage));
        let mut open_skel = opened.map_err(|source| ProbeError::Open { source, log })?;
        configure(&mut open_skel, config)?;
        let tracing = crate::tracefs::tracing_dir(); // looked up (and mounted) once for both families
        let missing =
            crate::kernel::attach::prepare(&mut open_skel, &config.activity, tracing.as_deref())?;
        crate::file::touched::prepare(&mut open_skel);
        crate::uring::prepare(&mut open_skel)?;
        crate::file::hooks::prepare(
            &mut open_skel,
            tracing.as_deref(),
            config.file_hook_every_syscall,
        );
        crate::ia32::prepare(&mut open_skel, config.ia32_syscalls);

        let (loaded, log) = liblog::with_captured_log(|| open_skel.load());
        let mut skel = loaded.map_err(|source| load_error(source, &log, lockdown))?;
        attach(&mut skel)?;
        crate::file::hooks::link_body(&skel)?;
        crate::ia32::link_file_body(&skel)?;
        let mut activity = crate::kernel::attach::ActivityLinks::new(missing);
        activity.sync(&skel, &config.activity)?;
        let mut ia32 = crate::ia32::Ia32Hooks::default();
        ia32.sync(&skel, crate::ia32::wanted_ops(&config.activity), false)?;
        let mut uring = crate::uring::UringHooks::default();
        uring.set_activity(&mut skel, &config.activity)?;

        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let decode_errors = Arc::new(AtomicU64::new(0));
        let mut decoder = Decoder {
            env_values: config.env_values.clone(),
            environs: Default::default(),
        };
        let ring = {
            let inbox = Arc::clone(&inbox);
            let errors = Arc::clone(&decode_errors);
            let mut builder = RingBufferBuilder::new();
            builder
                .add(&skel.maps.events, move |bytes: &[u8]| {
                    match decoder.decode(bytes) {
                        Ok(record) => inbox
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .records
                            .push(record),
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("skipping undecodable kernel record: {e}");
                        }
                    }
                    0
                })
                .map_err(ProbeError::RingBuffer)?;
            builder.build().map_err(ProbeError::RingBuffer)?
        };
        Ok(Probe {
            ring: ManuallyDrop::new(ring),
            skel: ManuallyDrop::new(skel),
            object,
            inbox,
            decode_errors,
            poll_interval: config.poll_interval,
            lockdown,
            activity,
            kill_slots_armed: 0,
            file_hooks: Default::default(),
            ia32,
            activity_config: config.activity.clone(),
            uring,
            file_filters_on: false,
            dump_cgroups: Vec::new(),
        })
    }

    /// Waits up to `timeout` for records and hands each to `f`; returns how many were delivered.
    ///
    /// The kernel wakes the reader only once enough data is pending, so this also looks at the ring every
    /// `poll_interval` without a wake-up: no record waits longer than that.
    pub fn poll(
        &mut self,
        timeout: Duration,
        f: &mut impl FnMut(ProbeRecord),
    ) -> Result<usize, ProbeError> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wait = remaining.min(self.poll_interval);
            let rc = self.ring.poll_raw(wait);
            if rc < 0 && rc != -libc::EINTR {
                return Err(ProbeError::RingBuffer(libbpf_rs::Error::from_raw_os_error(
                    -rc,
                )));
            }
            let rc = self.ring.consume_raw();
            if rc < 0 && rc != -libc::EINTR {
                return Err(ProbeError::RingBuffer(libbpf_rs::Error::from_raw_os_error(
                    -rc,
                )));
            }
            let records =
                std::mem::take(&mut self.inbox.lock().unwrap_or_else(|e| e.into_inner()).records);
            let n = records.len();
            records.into_iter().for_each(&mut *f);
            if n > 0 || remaining <= wait {
                return Ok(n);
            }
        }
    }

    /// Drops (ring buffer full) per CPU and in total, records emitted per type, undecodable records.
    pub fn stats(&self) -> Result<ProbeStats, ProbeError> {
        let map = "counters";
        let values = self
            .skel
            .maps
            .counters
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| ProbeError::Map { map, source })?
            .unwrap_or_default();
        let mut stats =
            ProbeStats::from_per_cpu(&values, self.decode_errors.load(Ordering::Relaxed));
        let activity = self
            .skel
            .maps
            .act_counters
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| ProbeError::Map {
                map: "act_counters",
                source,
            })?
            .unwrap_or_default();
        stats.activity = crate::kernel::counters::from_per_cpu(&activity);
        stats.activity_unavailable = self.activity.missing_syscalls.clone();
        stats.file = self.file_stats()?;
        stats.uring = crate::uring::stats(&self.skel)?;
        Ok(stats)
    }

    /// The epoll descriptor that becomes readable when the kernel wakes the reader (for async integration;
    /// still call [`Probe::poll`] at least every `poll_interval`).
    pub fn epoll_fd(&self) -> i32 {
        self.ring.epoll_fd()
    }

    pub(crate) fn skel(&self) -> &SensorSkel<'static> {
        &self.skel
    }

    /// For modules that attach programs or write maps at run time (file filters).
    pub(crate) fn skel_mut(&mut self) -> &mut SensorSkel<'static> {
        &mut self.skel
    }

    /// Attaches (or detaches) the file syscall programs and the ctime programs that feed them, and tells
    /// the ia32 programs.
    pub(crate) fn set_file_programs_attached(&mut self, want: bool) -> Result<(), ProbeError> {
        self.file_hooks.set_attached(&self.skel, want)?;
        crate::file::touched::set_attached(&mut self.skel, want)?;
        self.uring.set_file(&mut self.skel, want)?;
        self.sync_ia32()
    }

    /// Keeps the ia32 programs in step with what is hooked natively.
    fn sync_ia32(&mut self) -> Result<(), ProbeError> {
        let ops = crate::ia32::wanted_ops(&self.activity_config);
        let file = self.file_filters_on || !self.dump_cgroups.is_empty();
        self.ia32.sync(&self.skel, ops, file)
    }

    /// Whether ia32 compat syscalls (32-bit programs, `int $0x80`) are being seen.
    pub fn ia32_attached(&self) -> bool {
        self.ia32.attached()
    }

    /// Turns the ia32 compat programs off (or back on, where the configuration loaded them) at run time,
    /// whatever the rules want: for measuring what they cost.
    pub fn set_ia32_syscalls(&mut self, on: bool) -> Result<(), ProbeError> {
        self.ia32.enabled = on;
        self.sync_ia32()
    }

    /// The kernel's id of the loaded program `name` (for `bpftool prog show id ID`), if loaded.
    pub fn program_id(&self, name: &str) -> Option<u32> {
        self.skel
            .object()
            .progs()
            .find(|p| p.name() == name && p.autoload())
            .and_then(|p| libbpf_rs::Program::id_from_fd(p.as_fd()).ok())
    }

    /// Hooks exactly the kernel, network and DNS activity `config` wants (its event types; the in-kernel
    /// filter settings are fixed at load): new types are attached, dropped ones detached, at run time.
    pub fn set_activity(
        &mut self,
        config: &crate::kernel::config::ActivityConfig,
    ) -> Result<(), ProbeError> {
        let Probe {
            skel,
            activity,
            uring,
            ..
        } = self;
        activity.sync(skel, config)?;
        uring.set_activity(skel, config)?;
        self.activity_config = config.clone();
        self.sync_ia32()
    }

    /// The kernel lockdown mode seen at start-up.
    pub fn lockdown(&self) -> Lockdown {
        self.lockdown
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        crate::links::drop_concurrently(
            self.activity
                .take_links()
                .into_iter()
                .chain(self.file_hooks.take_links())
                .chain(self.ia32.take_links())
                .chain(self.uring.take_links()),
        );
        // SAFETY: each field is dropped exactly once, borrowers before the storage they borrow.
        unsafe {
            ManuallyDrop::drop(&mut self.ring);
            ManuallyDrop::drop(&mut self.skel);
            drop(Box::from_raw(self.object.as_ptr()));
        }
    }
}

fn configure(open_skel: &mut OpenSensorSkel<'_>, config: &ProbeConfig) -> Result<(), ProbeError> {
    open_skel
        .maps
        .events
        .set_max_entries(config.ring_buffer_bytes)
        .map_err(|source| ProbeError::Map {
            map: "events",
            source,
        })?;
    let rodata = open_skel.maps.rodata_data.as_deref_mut().ok_or_else(|| {
        ProbeError::Config("the BPF object has no .rodata (build problem)".into())
    })?;
    rodata.agent_tgid = config.agent_pid.unwrap_or(0);
    rodata.args_max_bytes = config.max_args_bytes;
    rodata.wakeup_bytes = config.wakeup_bytes;
    rodata.env_value_hashes = Default::default();
    for (slot, name) in rodata.env_value_hashes.iter_mut().zip(&config.env_values) {
        *slot = env_name_hash(name);
    }
    Ok(())
}

fn attach(skel: &mut SensorSkel<'_>) -> Result<(), ProbeError> {
    let err = |program: &'static str| {
        move |source| ProbeError::Attach {
            program: program.into(),
            source,
        }
    };
    // The kill program must run before handle_exec (tracepoint probes run in attach order): its record then
    // precedes the exec record of the same process.
    skel.links.handle_exec_kill = Some(
        skel.progs
            .handle_exec_kill
            .attach()
            .map_err(err("handle_exec_kill"))?,
    );
    skel.links.handle_exec = Some(
        skel.progs
            .handle_exec
            .attach()
            .map_err(err("handle_exec"))?,
    );
    skel.links.handle_fork = Some(
        skel.progs
            .handle_fork
            .attach()
            .map_err(err("handle_fork"))?,
    );
    skel.links.handle_exit = Some(
        skel.progs
            .handle_exit
            .attach()
            .map_err(err("handle_exit"))?,
    );
    Ok(())
}

fn load_error(source: libbpf_rs::Error, log: &str, lockdown: Lockdown) -> ProbeError {
    let program = liblog::failed_program(log).unwrap_or_else(|| "<object>".into());
    let eperm = source.kind() == libbpf_rs::ErrorKind::PermissionDenied;
    let hint = match (eperm, lockdown) {
        (true, Lockdown::Unknown) => {
            " (EPERM: if the verifier log is empty, kernel lockdown may forbid it; \
             mount securityfs to let Rampart check /sys/kernel/security/lockdown)"
        }
        (true, _) => " (EPERM: libbpf's `ulimit -l` hint is usually wrong on current kernels)",
        _ => "",
    };
    ProbeError::ProgramLoad {
        program,
        source,
        hint,
        log: liblog::tail(log, 40),
    }
}
