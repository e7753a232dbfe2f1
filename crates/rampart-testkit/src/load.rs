//! Workloads for the benchmarks: the loops users' hosts run (open/close, fork+exec, connect, untar and
//! compile), a generator of kernel events at a paced rate, and readers of a process's CPU time and memory.
//! One implementation shared by every bench binary, so their numbers are comparable.

use std::ffi::CString;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// CPU time of the calling thread (user + kernel): a loop's own cost, less sensitive than wall time to
/// other work on the machine.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// (wall time, thread CPU time) of `n` × (open O_RDONLY + close) of `path`.
pub fn open_close(path: &Path, n: usize) -> (Duration, Duration) {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).expect("path without NUL");
    let (start, cpu) = (Instant::now(), thread_cpu());
    for _ in 0..n {
        // SAFETY: a valid NUL-terminated path; the fd is closed at once.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
            assert!(fd >= 0, "open {path:?} failed");
            libc::close(fd);
        }
    }
    (start.elapsed(), thread_cpu() - cpu)
}

/// Thread CPU time of `n` getppid calls: the cost of the syscall path alone (every hook on it, nothing
/// else), wherever the thread is descheduled.
pub fn getppid_loop(n: usize) -> Duration {
    let cpu = thread_cpu();
    for _ in 0..n {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::getppid() };
    }
    thread_cpu() - cpu
}

/// Runs `f` with the calling thread (and the processes it starts) on one CPU, then restores its CPU set.
///
/// A fork+exec loop is serial, but left free the scheduler wakes parent and child on different CPUs
/// some runs and not others: on a 2-vCPU VM the same loop then takes ~820 or ~1,180 µs per exec, a
/// spread far larger than what the benchmarks measure. Pinned, it is steady, and the other CPUs stay
/// free for the agent.
pub fn on_one_cpu<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: cpu_set_t is plain data; the calls only read and write the sets passed.
    unsafe {
        let mut saved: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let have_saved = libc::sched_getaffinity(0, size, &mut saved) == 0;
        let first = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &saved));
        if let (true, Some(cpu)) = (have_saved, first) {
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            libc::sched_setaffinity(0, size, &one);
        }
        let out = f();
        if have_saved {
            libc::sched_setaffinity(0, size, &saved);
        }
        out
    }
}

/// `n` sequential fork+exec+wait of `program` (e.g. /bin/true).
pub fn exec_loop(program: &Path, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let status = Command::new(program)
            .status()
            .expect("spawning the program");
        assert!(status.success(), "{} failed", program.display());
    }
    start.elapsed()
}

/// A loopback TCP listener that accepts and closes connections on its own thread.
pub struct Acceptor {
    pub addr: SocketAddr,
}

impl Acceptor {
    pub fn start() -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback listener");
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        Acceptor { addr }
    }
}

/// `n` sequential TCP connects (and closes) to `addr`.
pub fn connect_loop(addr: SocketAddr, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).expect("connecting to the loopback listener");
        // Wait for the peer's close so that connections do not pile up in TIME_WAIT on our side only.
        let _ = s.read(&mut [0u8; 1]);
    }
    start.elapsed()
}

/// A small C project as a tarball: the "mixed real workload" is untarring it into a fresh directory and
/// compiling every file (many short processes, file creation, reads of headers, writes of objects).
pub struct Project {
    tarball: PathBuf,
    work: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl Project {
    /// Writes `files` C sources into `dir/src`, and tars them into `dir/project.tar.gz`.
    pub fn create(dir: &Path, files: usize) -> Project {
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        let mut makefile = String::from("OBJS =");
        for i in 0..files {
            let body = format!(
                "#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n\
                 static int table_{i}[64];\n\
                 int unit_{i}(const char *s) {{\n  int h = {i};\n  for (size_t k = 0; k < strlen(s); k++) h = h * 31 + s[k];\n  \
                 for (int k = 0; k < 64; k++) table_{i}[k] = h ^ k;\n  return table_{i}[h & 63];\n}}\n"
            );
            std::fs::write(src.join(format!("unit{i}.c")), body).unwrap();
            makefile.push_str(&format!(" unit{i}.o"));
        }
        makefile.push_str("\nall: $(OBJS)\n%.o: %.c\n\tgcc -O1 -c $< -o $@\n");
        std::fs::write(src.join("Makefile"), makefile).unwrap();
        let tarball = dir.join("project.tar.gz");
        let ok = Command::new("tar")
            .arg("czf")
            .arg(&tarball)
            .arg("-C")
            .arg(dir)
            .arg("src")
            .status()
            .expect("running tar")
            .success();
        assert!(ok, "tar czf failed");
        Project {
            tarball,
            work: dir.join("work"),
            runs: 0.into(),
        }
    }

    /// Untars into a fresh directory and runs `make` (one job: comparable across machines); the time taken.
    pub fn build(&self) -> Duration {
        let run = self.runs.get();
        self.runs.set(run + 1);
        let dir = self.work.join(run.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let start = Instant::now();
        let untar = Command::new("tar")
            .arg("xzf")
            .arg(&self.tarball)
            .arg("-C")
            .arg(&dir)
            .status()
            .expect("running tar");
        assert!(untar.success(), "tar xzf failed");
        let make = Command::new("make")
            .args(["-s", "-C"])
            .arg(dir.join("src"))
            .status()
            .expect("running make");
        assert!(make.success(), "make failed");
        let took = start.elapsed();
        let _ = std::fs::remove_dir_all(&dir);
        took
    }
}

/// Calls `op` at `rate` per second for `duration`, in 1 ms slices; returns how many calls were made (less
/// than asked when one thread cannot keep up).
pub fn paced(rate: u64, duration: Duration, mut op: impl FnMut()) -> u64 {
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < duration {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while done < due {
            op();
            done += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    done
}

/// User + system CPU time a process has used so far (from /proc/PID/stat).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz))
}

/// Resident memory (VmRSS) and its peak (VmHWM) of a process, in KiB.
pub fn process_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The median of a non-empty list.
pub fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

/// The `q` quantile (0..=1) of a non-empty list.
pub fn quantile<T: Ord + Copy>(mut v: Vec<T>, q: f64) -> T {
    v.sort();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}
