//! Reading the fixed part and the byte sections of the activity records (bounds-checked, never panics).

use std::mem::size_of;

use crate::decode::DecodeError;
use crate::skel::types::{dns_event, kact_event, sock_event};

/// Plain-old-data the BPF side wrote: every field of these generated `#[repr(C)]` types is an integer, an
/// integer array or a struct of those, so any bit pattern is a valid value.
pub(crate) trait Pod: Copy {}
impl Pod for kact_event {}
impl Pod for sock_event {}
impl Pod for dns_event {}

pub(crate) fn read_pod<T: Pod>(bytes: &[u8]) -> Result<T, DecodeError> {
    let need = size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::Short {
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: the length is checked above, read_unaligned copes with any alignment, and `T: Pod` admits
    // every bit pattern.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// `bytes[start..start + len]`, or an error naming how far the record falls short.
pub(crate) fn tail(bytes: &[u8], start: usize, len: usize) -> Result<&[u8], DecodeError> {
    bytes.get(start..start + len).ok_or(DecodeError::Sections {
        len: bytes.len(),
        need: start + len,
    })
}

pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn c_string(raw: &[i8]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    lossy(&bytes)
}
