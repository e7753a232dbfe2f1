//! Real-kernel tests of the file events: each does the real syscall in a temp dir and asserts the record
//! (kernel-resolved absolute path, inode, return value). Root only; they fail, never skip, without it.

mod file_support;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use file_support::*;
use rampart_model::{EventData, EventType};
use rampart_probe::file::{file_target, FileFilters};
use rampart_probe::ProbeConfig;

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

#[test]
fn openat_with_a_dirfd_resolves_the_new_file() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let dfd = unsafe { libc::open(cstr(&dir).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dfd >= 0);
    let name = CString::new("made-by-openat").unwrap();
    let fd = unsafe { libc::openat(dfd, name.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o640) };
    assert!(fd >= 0);
    unsafe {
        libc::close(fd);
        libc::close(dfd);
    }
    let path = dir.join("made-by-openat");
    let r = rec.wait_for(EventType::Open, &path);
    let EventData::Open(open) = &r.data else {
        unreachable!()
    };
    assert_eq!(open.file.file.name, "made-by-openat");
    assert_eq!(
        open.file.file.inode,
        std::fs::metadata(&path).unwrap().ino()
    );
    assert_eq!(open.file.file.mode & 0o170000, 0o100000, "a regular file");
    assert_eq!(open.flags & (libc::O_CREAT as u32), libc::O_CREAT as u32);
    assert_eq!(
        open.file.destination.as_ref().unwrap().file.mode & 0o777,
        0o640
    );
    assert!(open.retval >= 0);
    assert_eq!(open.syscall.as_ref().unwrap().path, "made-by-openat");
    assert_eq!(r.pid, std::process::id());
    let fs = &open.file.file.filesystem;
    assert!(
        !fs.is_empty() && fs.bytes().all(|b| b.is_ascii_alphanumeric()),
        "filesystem {fs:?}"
    );
}

#[test]
fn relative_paths_from_another_cwd() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let d = dir.display();
    sh(&format!("cd {d}/sub && : > ../rel-file && rm ../rel-file"));
    let open = rec.wait_for(EventType::Open, &dir.join("rel-file"));
    assert!(file_target(&open.data).unwrap().file.inode > 0);
    // The unlinked file is named by its base directory (the cwd, resolved by the kernel) + "../rel-file".
    let unlink = rec.wait_for(EventType::Unlink, &dir.join("rel-file"));
    let EventData::Unlink(u) = &unlink.data else {
        unreachable!()
    };
    assert_eq!(u.retval, 0);
    assert_eq!(u.file.file.name, "rel-file");
    assert_eq!(u.syscall.as_ref().unwrap().path, "../rel-file");
}

#[test]
fn failed_calls_carry_their_error() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let missing = dir.join("does-not-exist");
    assert!(std::fs::File::open(&missing).is_err());
    assert!(std::fs::remove_file(&missing).is_err());
    let open = rec.wait_for(EventType::Open, &missing);
    let EventData::Open(o) = &open.data else {
        unreachable!()
    };
    assert_eq!(o.retval, -(libc::ENOENT as i64));
    let unlink = rec.wait_for(EventType::Unlink, &missing);
    assert_eq!(
        rampart_probe::file::retval(&unlink.data),
        Some(-(libc::ENOENT as i64))
    );
}

#[test]
fn rename_across_directories() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    std::fs::create_dir(dir.join("a")).unwrap();
    std::fs::create_dir(dir.join("b")).unwrap();
    std::fs::write(dir.join("a/old"), b"x").unwrap();
    std::fs::rename(dir.join("a/old"), dir.join("b/new")).unwrap();
    let r = rec.wait_for(EventType::Rename, &dir.join("a/old"));
    assert_eq!(dest_of(&r), dir.join("b/new").to_str());
    let EventData::Rename(ev) = &r.data else {
        unreachable!()
    };
    assert_eq!(ev.retval, 0);
    assert_eq!(ev.file.destination.as_ref().unwrap().file.name, "new");
}

#[test]
fn paths_longer_than_255_bytes() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let mut deep = dir.clone();
    for i in 0..6 {
        deep.push(format!("{i}-{}", "d".repeat(60)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let file = deep.join("leaf-file");
    assert!(file.as_os_str().len() > 400);
    std::fs::write(&file, b"x").unwrap();
    std::fs::remove_file(&file).unwrap();
    let open = rec.wait_for(EventType::Open, &file);
    assert!(file_target(&open.data).unwrap().file.inode > 0);
    rec.wait_for(EventType::Unlink, &file);
}

#[test]
fn symlinked_directory_resolves_to_the_real_path() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    std::fs::create_dir(dir.join("real")).unwrap();
    std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
    std::fs::write(dir.join("link/through-link"), b"x").unwrap();
    // The kernel walks the opened file's dentries: the real directory, not the symlink.
    let open = rec.wait_for(EventType::Open, &dir.join("real/through-link"));
    let EventData::Open(o) = &open.data else {
        unreachable!()
    };
    assert_eq!(
        o.syscall.as_ref().unwrap().path,
        dir.join("link/through-link").to_str().unwrap()
    );
}

#[test]
fn bind_mount_paths_are_the_mount_points() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    std::fs::create_dir(dir.join("src")).unwrap();
    std::fs::create_dir(dir.join("mnt")).unwrap();
    let (src, mnt) = (cstr(&dir.join("src")), cstr(&dir.join("mnt")));
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            mnt.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "bind mount: {}", std::io::Error::last_os_error());
    struct Unmount(CString);
    impl Drop for Unmount {
        fn drop(&mut self) {
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _unmount = Unmount(mnt.clone());
    std::fs::write(dir.join("mnt/via-bind"), b"x").unwrap();
    let open = rec.wait_for(EventType::Open, &dir.join("mnt/via-bind"));
    let f = &file_target(&open.data).unwrap().file;
    assert_eq!(
        f.inode,
        std::fs::metadata(dir.join("src/via-bind")).unwrap().ino()
    );
    // The same file through the original directory: same inode, another mount.
    std::fs::write(dir.join("src/via-bind"), b"y").unwrap();
    let direct = rec.wait_for(EventType::Open, &dir.join("src/via-bind"));
    let g = &file_target(&direct.data).unwrap().file;
    assert_eq!(g.inode, f.inode);
    assert_ne!(
        g.mount_id, f.mount_id,
        "the bind mount has its own mount id"
    );
}

#[test]
fn every_file_event_type_is_reported() {
    rampart_testkit::require!(root, "loads eBPF programs");
    every_file_event_type(load(&FileFilters::send_all()));
}

/// The fallback for kernels without per-syscall tracepoints reports the same events.
#[test]
fn every_file_event_type_is_reported_by_the_every_syscall_hook() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let config = ProbeConfig {
        file_hook_every_syscall: true,
        ..Default::default()
    };
    every_file_event_type(load_with(config, &FileFilters::send_all()));
}

fn every_file_event_type(mut rec: Recorder) {
    let (_keep, dir) = temp_dir();
    let d = dir.display();
    sh(&format!(
        "cd {d} && mkdir sub && : > f && chmod 600 f && chown 0:0 f && ln f hard && touch -m f && \
         truncate -s 0 f && cd sub && cd .. && rm hard && rmdir sub"
    ));
    let f = dir.join("f");
    let name = CString::new("user.rampart").unwrap();
    let rc =
        unsafe { libc::setxattr(cstr(&f).as_ptr(), name.as_ptr(), b"v".as_ptr().cast(), 1, 0) };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
    let rc = unsafe { libc::removexattr(cstr(&f).as_ptr(), name.as_ptr()) };
    assert_eq!(rc, 0, "removexattr: {}", std::io::Error::last_os_error());

    rec.wait_for(EventType::Mkdir, &dir.join("sub"));
    let chmod = rec.wait_for(EventType::Chmod, &f);
    let EventData::Chmod(c) = &chmod.data else {
        unreachable!()
    };
    assert_eq!(
        c.file.destination.as_ref().unwrap().file.mode & 0o7777,
        0o600
    );
    let chown = rec.wait_for(EventType::Chown, &f);
    let EventData::Chown(c) = &chown.data else {
        unreachable!()
    };
    assert_eq!(c.file.destination.as_ref().unwrap().file.uid, 0);
    let link = rec.wait_for(EventType::Link, &f);
    assert_eq!(dest_of(&link), dir.join("hard").to_str());
    rec.wait_for(EventType::Utimes, &f);
    rec.wait_for(EventType::Truncate, &f);
    let chdir = rec.wait_for(EventType::Chdir, &dir.join("sub"));
    assert!(
        file_target(&chdir.data).unwrap().file.inode > 0,
        "the new cwd comes from the kernel"
    );
    rec.wait_for(EventType::Unlink, &dir.join("hard"));
    rec.wait_for(EventType::Rmdir, &dir.join("sub"));
    let set = rec.wait_for(EventType::Setxattr, &f);
    let EventData::Setxattr(x) = &set.data else {
        unreachable!()
    };
    let dst = x.file.destination.as_ref().unwrap();
    assert_eq!(
        (dst.file.name.as_str(), dst.namespace.as_str()),
        ("user.rampart", "user")
    );
    rec.wait_for(EventType::Removexattr, &f);

    // the legacy (non-*at) syscalls have programs of their own
    let old = dir.join("legacy");
    let new = dir.join("legacy-renamed");
    let fd = unsafe { libc::syscall(libc::SYS_creat, cstr(&old).as_ptr(), 0o644) };
    assert!(fd >= 0, "creat: {}", std::io::Error::last_os_error());
    unsafe { libc::close(fd as i32) };
    let rc = unsafe { libc::syscall(libc::SYS_chmod, cstr(&old).as_ptr(), 0o640) };
    assert_eq!(rc, 0, "chmod: {}", std::io::Error::last_os_error());
    let rc = unsafe { libc::syscall(libc::SYS_rename, cstr(&old).as_ptr(), cstr(&new).as_ptr()) };
    assert_eq!(rc, 0, "rename: {}", std::io::Error::last_os_error());
    let creat = rec.wait_for(EventType::Open, &old);
    assert!(file_target(&creat.data).unwrap().file.inode > 0);
    rec.wait_for(EventType::Chmod, &old);
    let rename = rec.wait_for(EventType::Rename, &old);
    assert_eq!(dest_of(&rename), new.to_str());
}

/// The file a path-based call changed, as the record reports it: (inode, mode).
fn target_inode(r: &rampart_probe::record::ActivityRecord) -> (u64, u32) {
    let f = &file_target(&r.data).unwrap().file;
    (f.inode, f.mode)
}

#[test]
fn path_based_calls_carry_the_inode_they_changed() {
    rampart_testkit::require!(root, "loads eBPF programs");
    use std::os::unix::fs::PermissionsExt;
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let (f, sub, gone, moved, linked) = (
        dir.join("f"),
        dir.join("sub"),
        dir.join("gone"),
        dir.join("sub/moved"),
        dir.join("linked"),
    );
    std::fs::write(&f, b"x").unwrap();
    std::fs::write(&gone, b"x").unwrap();
    let ino = |p: &Path| std::fs::symlink_metadata(p).unwrap().ino();
    let (f_ino, gone_ino) = (ino(&f), ino(&gone));
    const S_IFREG: u32 = 0o100000;
    const S_IFDIR: u32 = 0o040000;

    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o2755)).unwrap();
    let chmod = rec.wait_for(EventType::Chmod, &f);
    assert_eq!(target_inode(&chmod).0, f_ino, "{chmod:?}");
    assert_eq!(target_inode(&chmod).1 & 0o170000, S_IFREG, "a regular file");
    let EventData::Chmod(c) = &chmod.data else {
        unreachable!()
    };
    assert_eq!(
        c.file.destination.as_ref().unwrap().file.mode,
        S_IFREG | 0o2755,
        "the new mode keeps the file type"
    );
    let fs = &c.file.file.filesystem;
    assert!(
        !fs.is_empty() && fs.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{fs:?}"
    );
    assert!(c.file.file.mount_id > 0);

    std::fs::create_dir(&sub).unwrap();
    let mkdir = rec.wait_for(EventType::Mkdir, &sub);
    assert_eq!(
        target_inode(&mkdir),
        (ino(&sub), S_IFDIR | (0o777 & !umask()))
    );
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o2775)).unwrap();
    let chmod_dir = rec.wait_for(EventType::Chmod, &sub);
    assert_eq!(
        target_inode(&chmod_dir).1 & 0o170000,
        S_IFDIR,
        "a directory"
    );

    std::os::unix::fs::chown(&f, Some(0), Some(0)).unwrap();
    assert_eq!(target_inode(&rec.wait_for(EventType::Chown, &f)).0, f_ino);
    let c = CString::new(f.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::truncate(c.as_ptr(), 0) }, 0);
    assert_eq!(
        target_inode(&rec.wait_for(EventType::Truncate, &f)).0,
        f_ino
    );
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) },
        0
    );
    assert_eq!(target_inode(&rec.wait_for(EventType::Utimes, &f)).0, f_ino);

    std::fs::hard_link(&f, &linked).unwrap();
    let link = rec.wait_for(EventType::Link, &f);
    let t = file_target(&link.data).unwrap();
    assert_eq!(
        (t.file.inode, t.destination.as_ref().unwrap().file.inode),
        (f_ino, f_ino),
        "a hard link is the same inode"
    );
    std::fs::rename(&f, &moved).unwrap();
    let rename = rec.wait_for(EventType::Rename, &f);
    let t = file_target(&rename.data).unwrap();
    assert_eq!(
        (t.file.inode, t.destination.as_ref().unwrap().file.inode),
        (f_ino, f_ino)
    );

    std::fs::remove_file(&gone).unwrap();
    assert_eq!(
        target_inode(&rec.wait_for(EventType::Unlink, &gone)),
        (gone_ino, S_IFREG | (0o666 & !umask()))
    );
    std::fs::remove_file(&moved).unwrap();
    let sub_ino = ino(&sub);
    std::fs::remove_dir(&sub).unwrap();
    let rmdir = rec.wait_for(EventType::Rmdir, &sub);
    assert_eq!(target_inode(&rmdir).0, sub_ino);
}

fn umask() -> u32 {
    // SAFETY: umask(2) sets and returns the mask; it is put back at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    }
}

/// Detaching waits for the kernel (~60 ms per program), so it happens off the caller's thread; attaching
/// again while it is under way reports each call once, not once per leftover program.
#[test]
fn detaching_returns_at_once_and_reattaching_reports_each_call_once() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let started = std::time::Instant::now();
    rec.probe
        .apply_file_filters(&FileFilters::default())
        .expect("detaching");
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(500),
        "detaching took {took:?}"
    );
    rec.probe
        .apply_file_filters(&FileFilters::send_all())
        .expect("attaching again");
    let f = dir.join("once");
    sh(&format!(
        "cd {} && : > once && chmod 600 once",
        dir.display()
    ));
    rec.wait_for(EventType::Chmod, &f);
    let want = f.to_str().unwrap().to_string();
    let opens = rec.collect_for(std::time::Duration::from_secs(3), |r| {
        r.data.event_type() == EventType::Open && path_of(r) == Some(want.as_str())
    });
    assert_eq!(opens.len(), 1, "one open, one record: {opens:?}");
}
