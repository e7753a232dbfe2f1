//! Pushing [`FileFilters`] into the BPF maps, attaching the file program only while some type is wanted,
//! and reading the per-type counters back.

use std::collections::BTreeMap;

use libbpf_rs::{MapCore, MapFlags};

use super::filters::{Compiled, FileFilters, FilterReport, Mode, FILE_SLOTS};
use super::FileKind;
use crate::abi::{bytes_of, read_pod};
use crate::errors::ProbeError;
use crate::loader::Probe;
use crate::skel::types::{file_counters, file_name_index, file_policy, name_masks, path_key};

/// Kernel counters of one file event type, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileTypeStats {
    /// Completed syscalls of a wanted type.
    pub seen: u64,
    /// Dropped because no approver admitted them.
    pub approver_drop: u64,
    /// Dropped by a cached discarder, before any path walk.
    pub discarder_drop: u64,
    /// Written to the ring buffer.
    pub sent: u64,
    /// Lost because the ring buffer was full.
    pub ring_drop: u64,
    /// Discarders the kernel learnt.
    pub discarder_added: u64,
}

/// Per-type kernel counters of the file family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    pub types: BTreeMap<FileKind, FileTypeStats>,
}

impl FileStats {
    pub fn get(&self, kind: FileKind) -> FileTypeStats {
        self.types.get(&kind).copied().unwrap_or_default()
    }

    pub fn total(&self) -> FileTypeStats {
        self.types
            .values()
            .fold(FileTypeStats::default(), |a, s| FileTypeStats {
                seen: a.seen + s.seen,
                approver_drop: a.approver_drop + s.approver_drop,
                discarder_drop: a.discarder_drop + s.discarder_drop,
                sent: a.sent + s.sent,
                ring_drop: a.ring_drop + s.ring_drop,
                discarder_added: a.discarder_added + s.discarder_added,
            })
    }
}

fn map_err(map: &'static str) -> impl Fn(libbpf_rs::Error) -> ProbeError {
    move |source| ProbeError::Map { map, source }
}

impl Probe {
    /// Replaces the kernel's file filter: modes, approvers, and a new discarder revision (every cached
    /// discarder becomes void). Attaches the file program when some type is wanted and detaches it when
    /// none is, so that a policy without file rules costs nothing.
    pub fn apply_file_filters(
        &mut self,
        filters: &FileFilters,
    ) -> Result<FilterReport, ProbeError> {
        let compiled = filters.compile();
        let skel = self.skel_mut();
        // Everything off while the maps are rewritten: a half-written filter must not drop what it should
        // admit (Off drops too, but only for the instant of the swap, and never sends wrong data).
        let off = file_policy::default();
        for slot in 0..FILE_SLOTS as u32 {
            skel.maps
                .file_policy
                .update(&slot.to_ne_bytes(), bytes_of(&off), MapFlags::ANY)
                .map_err(map_err("file_policy"))?;
        }
        clear(&skel.maps.file_basenames).map_err(map_err("file_basenames"))?;
        clear(&skel.maps.file_paths).map_err(map_err("file_paths"))?;
        write_keys(&skel.maps.file_basenames, &skel.maps.file_paths, &compiled)?;
        let index = file_name_index {
            prefix_len: compiled.prefix_lens,
            bloom: compiled.name_bloom(),
            ..Default::default()
        };
        skel.maps
            .file_name_index
            .update(&0u32.to_ne_bytes(), bytes_of(&index), MapFlags::ANY)
            .map_err(map_err("file_name_index"))?;
        let revision = bump_revision(&skel.maps.file_revision)?;
        for (slot, p) in compiled.slots.iter().enumerate() {
            let v = file_policy {
                mode: p.mode,
                flags: p.flags,
                flags_mask: p.flags_mask,
                ..Default::default()
            };
            skel.maps
                .file_policy
                .update(&(slot as u32).to_ne_bytes(), bytes_of(&v), MapFlags::ANY)
                .map_err(map_err("file_policy"))?;
        }

        let want = filters.any_enabled();
        self.file_filters_on = want;
        self.attach_file_program()?;
        Ok(FilterReport {
            modes: FileKind::ALL
                .iter()
                .map(|k| (*k, filters.mode(*k)))
                .filter(|(_, m)| *m != Mode::Off)
                .collect(),
            basenames: compiled.basenames.len(),
            path_keys: compiled.paths.len(),
            revision,
            attached: want,
        })
    }

    /// The file program is attached while the filter or an activity dump needs it, detached otherwise.
    fn attach_file_program(&mut self) -> Result<(), ProbeError> {
        let want = self.file_filters_on || !self.dump_cgroups.is_empty();
        self.set_file_programs_attached(want)
    }

    /// The cgroups (v2 ids) being profiled: every file event of their processes is sent, whatever the
    /// filter says. An empty list ends every dump.
    pub fn set_dump_cgroups(&mut self, cgroups: &[u64]) -> Result<(), ProbeError> {
        let skel = self.skel_mut();
        let map = &skel.maps.dump_cgroups;
        for key in map.keys().collect::<Vec<_>>() {
            let stale = u64::from_ne_bytes(key.as_slice().try_into().unwrap_or_default());
            if !cgroups.contains(&stale) {
                map.delete(&key).map_err(map_err("dump_cgroups"))?;
            }
        }
        for id in cgroups {
            map.update(&id.to_ne_bytes(), &1u32.to_ne_bytes(), MapFlags::ANY)
                .map_err(map_err("dump_cgroups"))?;
        }
        let on = u32::from(!cgroups.is_empty());
        skel.maps
            .dump_active
            .update(&0u32.to_ne_bytes(), &on.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err("dump_active"))?;
        self.dump_cgroups = cgroups.to_vec();
        self.attach_file_program()
    }

    /// Voids every cached discarder (e.g. after something user space knows moved paths around).
    pub fn invalidate_file_discarders(&mut self) -> Result<u32, ProbeError> {
        bump_revision(&self.skel_mut().maps.file_revision)
    }

    /// Per-type counters of the file family.
    pub fn file_stats(&self) -> Result<FileStats, ProbeError> {
        let map = &self.skel().maps.file_stats;
        let mut out = FileStats::default();
        for kind in FileKind::ALL {
            let per_cpu = map
                .lookup_percpu(&(kind.index() as u32).to_ne_bytes(), MapFlags::ANY)
                .map_err(map_err("file_stats"))?
                .unwrap_or_default();
            let mut s = FileTypeStats::default();
            for cpu in per_cpu {
                let Ok(c) = read_pod::<file_counters>(&cpu) else {
                    continue;
                };
                s.seen += c.seen;
                s.approver_drop += c.approver_drop;
                s.discarder_drop += c.discarder_drop;
                s.sent += c.sent;
                s.ring_drop += c.ring_drop;
                s.discarder_added += c.discarder_added;
            }
            if s != FileTypeStats::default() {
                out.types.insert(kind, s);
            }
        }
        Ok(out)
    }
}

fn clear(map: &impl MapCore) -> Result<(), libbpf_rs::Error> {
    let keys: Vec<Vec<u8>> = map.keys().collect();
    for k in keys {
        // Already gone is fine.
        let _ = map.delete(&k);
    }
    Ok(())
}

fn write_keys(
    basenames: &impl MapCore,
    paths: &impl MapCore,
    c: &Compiled,
) -> Result<(), ProbeError> {
    for (hash, (name, path, prefix)) in &c.basenames {
        let v = name_masks {
            name: *name,
            path: *path,
            prefix: *prefix,
            ..Default::default()
        };
        basenames
            .update(&hash.to_ne_bytes(), bytes_of(&v), MapFlags::ANY)
            .map_err(map_err("file_basenames"))?;
    }
    for ((hash, kind), slots) in &c.paths {
        let k = path_key {
            hash: *hash,
            kind: *kind,
            ..Default::default()
        };
        paths
            .update(bytes_of(&k), &slots.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err("file_paths"))?;
    }
    Ok(())
}

fn bump_revision(map: &impl MapCore) -> Result<u32, ProbeError> {
    let key = 0u32.to_ne_bytes();
    let cur = map
        .lookup(&key, MapFlags::ANY)
        .map_err(map_err("file_revision"))?
        .and_then(|v| {
            v.get(..4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        })
        .unwrap_or(0);
    // A big step: a kernel bump racing with this read-modify-write is lost, but the new value is still
    // one no discarder was ever stamped with.
    let next = cur.wrapping_add(1 << 16);
    map.update(&key, &next.to_ne_bytes(), MapFlags::ANY)
        .map_err(map_err("file_revision"))?;
    Ok(next)
}
