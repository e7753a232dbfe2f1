//! The kernel ABI as the Rust side sees it: the one way to turn the bytes the BPF programs write into
//! values, and values into the bytes their maps take.
//!
//! Layouts and constants have one definition, in C under `bpf/`. Structs reach Rust through the skeleton's
//! BTF-generated types (`crate::skel::types`); so do the constants, which are C enums referenced from
//! `_abi_enums` in `bpf/sensor.bpf.c` (an enum used only in expressions has no BTF): `kact_op::KOP_BPF`,
//! `record_kind::RECORD_EXEC`, … are generated, never copied. UAPI values the C side spells out because
//! vmlinux.h lacks them are checked against libc (`abi/tests.rs`).
//!
//! Records come from the ring buffer, and an attacker shapes much of what is in them: every reader here
//! bounds-checks and returns an error (or a default) on short or garbled input; none panics.

use std::mem::size_of;

use crate::decode::DecodeError;
use crate::skel::types::{
    act_counters, counters, dns_event, exec_event, exit_event, file_counters, file_event,
    file_name_index, file_policy, fork_event, ia32_state, kact_event, kill_config, kill_event,
    kill_exe_key, kill_name_key, kill_pattern, kill_slot, name_masks, path_key, record_header,
    sock_event, uring_counters,
};

/// Plain old data shared with the kernel: a value may be built from any bytes of its size, and its bytes
/// may be viewed.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of integers, arrays of them and other `Pod` types, with no
/// implicit padding (every bit pattern is then a valid value, and every byte is initialised). The types
/// libbpf-cargo generates from BTF are such: it spells out padding as `__pad_*` byte arrays.
pub(crate) unsafe trait Pod: Copy + Default + 'static {}

macro_rules! pod {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: a BTF-generated struct of integers and integer arrays (see `Pod`).
        unsafe impl Pod for $t {}
    )* };
}

pod!(
    // ring-buffer records
    record_header,
    exec_event,
    fork_event,
    exit_event,
    kill_event,
    file_event,
    kact_event,
    sock_event,
    dns_event,
    // per-CPU counters
    counters,
    act_counters,
    file_counters,
    uring_counters,
    // map keys and values user space writes
    file_policy,
    name_masks,
    file_name_index,
    path_key,
    kill_config,
    kill_slot,
    kill_pattern,
    kill_name_key,
    kill_exe_key,
    ia32_state,
);

/// The `T` at the start of `bytes` (any alignment); an error when `bytes` is shorter than `T`.
pub(crate) fn read_pod<T: Pod>(bytes: &[u8]) -> Result<T, DecodeError> {
    let need = size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::Short {
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: `need` bytes are there, read_unaligned copes with any alignment, and `T: Pod` admits every bit
    // pattern.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The bytes of a value, as a map update takes them.
pub(crate) fn bytes_of<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: `T: Pod` has no padding, so all `size_of::<T>()` bytes behind the reference are initialised;
    // the slice borrows `v`.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// A record's fixed part `T`, and the byte sections that follow it.
pub(crate) fn read_record<T: Pod>(bytes: &[u8]) -> Result<(T, Sections<'_>), DecodeError> {
    let fixed = read_pod(bytes)?;
    let sections = Sections {
        bytes,
        at: size_of::<T>(),
    };
    Ok((fixed, sections))
}

/// Consecutive byte sections of a record's variable tail, taken in order with the lengths its fixed part
/// gives.
pub(crate) struct Sections<'a> {
    bytes: &'a [u8],
    /// Offset of the next section in the record.
    at: usize,
}

impl<'a> Sections<'a> {
    /// The next `len` bytes, or an error naming how far the record falls short.
    pub(crate) fn take(&mut self, len: u16) -> Result<&'a [u8], DecodeError> {
        let end = self.at + len as usize;
        let section = self.bytes.get(self.at..end).ok_or(DecodeError::Sections {
            len: self.bytes.len(),
            need: end,
        })?;
        self.at = end;
        Ok(section)
    }
}

/// FNV-1a 64 (`FNV_OFFSET`, `FNV_PRIME` in bpf/common.h: 64-bit values, which clang 14 cannot put in BTF;
/// `abi/tests.rs` reads them from the header instead).
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
pub(crate) const FNV_PRIME: u64 = 0x100_0000_01b3;

/// FNV-1a 64 over bytes, as the BPF side hashes paths and environment variable names.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// Whether `flags` has the bit `flag` (an `exec_flag`, `file_flag`, … value of the generated types).
pub(crate) fn has(flags: u32, flag: u32) -> bool {
    flags & flag != 0
}

/// A fixed-size C string field (`char name[N]`): the bytes up to the first NUL (all of them when there is
/// none), invalid UTF-8 replaced.
pub(crate) fn c_string(raw: &[i8]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    lossy(&bytes)
}

/// Bytes as text, invalid UTF-8 replaced.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests;
