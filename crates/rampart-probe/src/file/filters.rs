//! What the kernel may drop: per file event type a [`Mode`], and in `Filter` mode the approvers of each side
//! (source, and the destination of rename/link). Built by the caller from the rule engine's approvers; this
//! module only turns them into the kernel's map entries (see bpf/file_maps.h).
//!
//! Kernel representation, chosen to verify cheaply and cost O(path depth) at most:
//! * names (`*.file.name` values, and the basenames of path approvers) → a hash map keyed by the FNV-1a 64
//!   hash of the name, value = slot bits; checked on the dentry name / last component, before any path walk;
//! * path approvers → directory prefixes (the part of each prefix up to its last `/`, a superset that never
//!   drops a matching event) and exact paths, in one hash map keyed by (hash, kind); the kernel rolls the hash
//!   over the resolved path and looks it up at every `/`;
//! * open flags → one OR-ed mask per slot (`flags & mask != 0`).
//!
//! Where a hash decides what the kernel drops (audited for issue 19; the hashes are FNV-1a 64, which anyone can
//! collide):
//! * basename, name-prefix and path-prefix/exact hashes only *admit*: a collision sends an extra event to user
//!   space, which evaluates every rule on the real strings;
//! * the basename gate (`path_basenames`) and the Bloom filter drop a name whose hash is not in the set, and a
//!   watched name's own hash always is (the Bloom filter has no false negatives);
//! * the directory key of an exact path only chooses a per-name discarder over a per-directory one: a collision
//!   makes the kernel more careful, never less;
//! * per-name discarders (a file, by name, beside a watched file) are the one place a hash could drop a watched
//!   event, so they keep the name and a hit counts only when it matches (bpf/file_maps.h `name_discarder_val`).
//!
//! Elsewhere a name hash only chooses what to report: `pick_touched` (bpf/file.h) picks, among the inodes one
//! call touched, the one named like the call's file (a collision mislabels the inode, drops nothing); the exec
//! program keeps the values of environment variables whose name hashes are allow-listed (a collision keeps an
//! extra value, which user space filters by name).

use std::collections::{BTreeMap, BTreeSet};

use super::FileKind;
use crate::abi::{fnv1a, FNV_OFFSET, FNV_PRIME};
use crate::skel::types::{file_filter_limit, file_mode, file_policy_flag, path_key_kind};

/// What the kernel does with one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// No rule needs it: dropped at once (and the program is detached when every type is off).
    #[default]
    Off,
    /// Some rule cannot be narrowed: every event is sent.
    All,
    /// Only events some approver admits are sent.
    Filter,
}

/// Approvers of one side of an event (one kernel slot). An event passes the side if any entry admits it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideFilter {
    /// Basenames that admit on their own (`*.file.name == "x"`).
    pub names: BTreeSet<String>,
    /// Basename prefixes that admit on their own (`*.file.name =~ "id_*"`); the kernel compares at most
    /// [`NAME_PREFIX_MAX`] bytes and [`NAME_PREFIX_LENS`] distinct lengths (longer prefixes are shortened:
    /// more events pass, none is lost).
    pub name_prefixes: BTreeSet<String>,
    /// Path approvers: exact paths and path prefixes (`/etc/` from `~"/etc/*"`).
    pub exact_paths: BTreeSet<String>,
    pub prefixes: BTreeSet<String>,
    /// When every path approver has a literal basename, those basenames: the kernel then rejects other
    /// names before walking the path. `None`: no such gate.
    pub path_basenames: Option<BTreeSet<String>>,
    /// Open flags: admit when `flags & mask != 0` (0: no flag approver).
    pub flags_mask: u32,
    /// Admit every call made through an ia32 syscall (`event.compat`).
    pub compat: bool,
}

impl SideFilter {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
            && self.name_prefixes.is_empty()
            && self.exact_paths.is_empty()
            && self.prefixes.is_empty()
            && self.flags_mask == 0
            && !self.compat
    }
}

/// One event type's kernel policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeFilter {
    pub mode: Mode,
    pub source: SideFilter,
    /// Rename and link only.
    pub destination: SideFilter,
    /// Also send calls that failed with an error other than EACCES/EPERM (a rule looks at `retval`).
    /// Otherwise the kernel drops them before any path work: the dynamic linker's and `PATH` lookups'
    /// ENOENTs are most of a busy host's failed opens, and a denied access is what matters for security.
    pub errors: bool,
}

impl TypeFilter {
    /// Every event of the type, failed calls included.
    pub fn all() -> Self {
        TypeFilter {
            mode: Mode::All,
            errors: true,
            ..Default::default()
        }
    }
}

/// The kernel file filter: types absent from `types` are [`Mode::Off`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFilters {
    pub types: BTreeMap<FileKind, TypeFilter>,
}

impl FileFilters {
    /// Every file event type sent unfiltered (tests, debugging; floods on a busy host).
    pub fn send_all() -> Self {
        FileFilters {
            types: FileKind::ALL
                .iter()
                .map(|k| (*k, TypeFilter::all()))
                .collect(),
        }
    }

    pub fn mode(&self, kind: FileKind) -> Mode {
        self.types.get(&kind).map_or(Mode::Off, |t| t.mode)
    }

    /// True when some type is not `Off` (the program must be attached).
    pub fn any_enabled(&self) -> bool {
        self.types.values().any(|t| t.mode != Mode::Off)
    }
}

/// What [`crate::Probe::apply_file_filters`] pushed into the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterReport {
    /// Mode per event type.
    pub modes: BTreeMap<FileKind, Mode>,
    pub basenames: usize,
    pub path_keys: usize,
    /// The discarder revision after the push (every earlier discarder is void).
    pub revision: u32,
    pub attached: bool,
}

// The kernel filter's values (bpf/file_maps.h), generated from BTF.
pub(crate) const FILE_MODE_OFF: u32 = file_mode::FILE_MODE_OFF.0;
pub(crate) const FILE_MODE_ALL: u32 = file_mode::FILE_MODE_ALL.0;
pub(crate) const FILE_MODE_FILTER: u32 = file_mode::FILE_MODE_FILTER.0;
pub(crate) const FP_NAME: u32 = file_policy_flag::FP_NAME.0;
pub(crate) const FP_GATE: u32 = file_policy_flag::FP_GATE.0;
pub(crate) const FP_PATH: u32 = file_policy_flag::FP_PATH.0;
pub(crate) const FP_FLAGS: u32 = file_policy_flag::FP_FLAGS.0;
pub(crate) const FP_NAME_PREFIX: u32 = file_policy_flag::FP_NAME_PREFIX.0;
pub(crate) const FP_ERRORS: u32 = file_policy_flag::FP_ERRORS.0;
pub(crate) const FP_COMPAT: u32 = file_policy_flag::FP_COMPAT.0;
/// Longest name prefix the kernel compares (two hash words).
pub const NAME_PREFIX_MAX: usize = file_filter_limit::NAME_PREFIX_MAX.0 as usize;
/// Distinct name-prefix lengths the kernel tries per name.
pub const NAME_PREFIX_LENS: usize = file_filter_limit::NAME_PREFIX_LENS.0 as usize;
pub(crate) const PATH_KEY_PREFIX: u32 = path_key_kind::PATH_KEY_PREFIX.0;
pub(crate) const PATH_KEY_EXACT: u32 = path_key_kind::PATH_KEY_EXACT.0;
pub(crate) const PATH_KEY_DIR: u32 = path_key_kind::PATH_KEY_DIR.0;
pub(crate) const FILE_SLOTS: usize = file_filter_limit::FILE_SLOTS.0 as usize;

/// One slot's `struct file_policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SlotPolicy {
    pub mode: u32,
    pub flags: u32,
    pub flags_mask: u32,
}

/// The map contents a [`FileFilters`] compiles to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Compiled {
    pub slots: [SlotPolicy; FILE_SLOTS],
    /// name hash → (name slot bits, path-basename slot bits, name-prefix slot bits)
    pub basenames: BTreeMap<u64, (u32, u32, u32)>,
    /// The name-prefix lengths the kernel tries (0 = unused).
    pub prefix_lens: [u8; NAME_PREFIX_LENS],
    /// (hash, kind) → slot bits
    pub paths: BTreeMap<(u64, u32), u32>,
}

pub(crate) const NAME_BLOOM_LOG2: u32 = file_filter_limit::NAME_BLOOM_LOG2.0;
pub(crate) const NAME_BLOOM_WORDS: usize = file_filter_limit::NAME_BLOOM_WORDS.0 as usize;

/// The two bits of the kernel's basename Bloom filter that `hash` sets (bpf/file.h `basename_lookup`).
fn bloom_bits(hash: u64) -> [usize; 2] {
    let a = hash >> (64 - NAME_BLOOM_LOG2);
    let b = (hash >> (64 - 2 * NAME_BLOOM_LOG2)) & ((1 << NAME_BLOOM_LOG2) - 1);
    [a as usize, b as usize]
}

impl Compiled {
    /// The Bloom filter over every `basenames` key: a name whose bits are not all set is in no entry.
    pub fn name_bloom(&self) -> [u64; NAME_BLOOM_WORDS] {
        let mut words = [0u64; NAME_BLOOM_WORDS];
        for bit in self.basenames.keys().flat_map(|h| bloom_bits(*h)) {
            words[bit / 64] |= 1 << (bit % 64);
        }
        words
    }
}

/// Hash of a basename, as bpf/file.h `name_hash` computes it: FNV-1a 64 seeded with the length, over the
/// name's zero-padded little-endian 8-byte words. Not collision-resistant (anyone can make two names share
/// a hash): the kernel uses it only where a collision admits extra events, or confirms the name (per-name
/// discarders). Public so that tests can build collisions.
pub fn name_hash(name: &[u8]) -> u64 {
    name.chunks(8)
        .fold(FNV_OFFSET ^ name.len() as u64, |h, chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            (h ^ u64::from_le_bytes(word)).wrapping_mul(FNV_PRIME)
        })
}

/// The directory part of a prefix, trailing `/` included (`/etc/ssh/sshd_` → `/etc/ssh/`).
fn dir_prefix(prefix: &str) -> Option<&str> {
    prefix.rfind('/').map(|i| &prefix[..=i])
}

/// The byte lengths at which the kernel hashes names: at most [`NAME_PREFIX_LENS`] of them, each prefix
/// cut to the longest allowed length that does not exceed it.
fn prefix_lengths<'a>(prefixes: impl Iterator<Item = &'a String>) -> Vec<usize> {
    let mut lens: Vec<usize> = prefixes
        .map(|p| p.len().min(NAME_PREFIX_MAX))
        .filter(|l| *l > 0)
        .collect();
    lens.sort_unstable();
    lens.dedup();
    // Too many lengths: drop the longest (their prefixes are cut to the next shorter one) until they fit.
    while lens.len() > NAME_PREFIX_LENS {
        lens.pop();
    }
    lens
}

/// `prefix` cut to the longest of `lens` it can use.
fn cut<'a>(prefix: &'a str, lens: &[usize]) -> Option<&'a [u8]> {
    let l = lens.iter().copied().filter(|l| *l <= prefix.len()).max()?;
    Some(&prefix.as_bytes()[..l])
}

impl FileFilters {
    pub(crate) fn compile(&self) -> Compiled {
        let mut out = Compiled::default();
        let lens = prefix_lengths(
            self.types
                .values()
                .filter(|t| t.mode == Mode::Filter)
                .flat_map(|t| {
                    t.source
                        .name_prefixes
                        .iter()
                        .chain(&t.destination.name_prefixes)
                }),
        );
        for (slot, l) in out.prefix_lens.iter_mut().zip(&lens) {
            *slot = *l as u8;
        }
        for (kind, tf) in &self.types {
            let mode = match tf.mode {
                Mode::Off => FILE_MODE_OFF,
                Mode::All => FILE_MODE_ALL,
                Mode::Filter => FILE_MODE_FILTER,
            };
            let mut sides = vec![(kind.index(), &tf.source)];
            if let Some(d) = kind.destination_slot() {
                sides.push((d, &tf.destination));
            }
            for (slot, side) in sides {
                let bit = 1u32 << slot;
                let mut p = SlotPolicy {
                    mode,
                    flags: if tf.errors { FP_ERRORS } else { 0 },
                    ..Default::default()
                };
                if tf.mode == Mode::Filter {
                    compile_side(side, bit, &lens, &mut p, &mut out);
                }
                out.slots[slot] = p;
            }
        }
        out
    }
}

fn compile_side(
    side: &SideFilter,
    bit: u32,
    lens: &[usize],
    p: &mut SlotPolicy,
    out: &mut Compiled,
) {
    if side.flags_mask != 0 {
        p.flags |= FP_FLAGS;
        p.flags_mask = side.flags_mask;
    }
    if side.compat {
        p.flags |= FP_COMPAT;
    }
    for n in &side.names {
        p.flags |= FP_NAME;
        out.basenames.entry(name_hash(n.as_bytes())).or_default().0 |= bit;
    }
    // `lens` keeps the shortest length, which every prefix reaches: `cut` always finds one.
    for bytes in side.name_prefixes.iter().filter_map(|n| cut(n, lens)) {
        p.flags |= FP_NAME_PREFIX;
        out.basenames.entry(name_hash(bytes)).or_default().2 |= bit;
    }
    let mut path_keys = Vec::new();
    for e in &side.exact_paths {
        path_keys.push((fnv1a(e.as_bytes()), PATH_KEY_EXACT));
        if let Some(dir) = dir_prefix(e) {
            path_keys.push((fnv1a(dir.as_bytes()), PATH_KEY_DIR));
        }
    }
    for pre in &side.prefixes {
        match dir_prefix(pre) {
            Some(dir) => path_keys.push((fnv1a(dir.as_bytes()), PATH_KEY_PREFIX)),
            // A relative prefix cannot match a kernel path; keep the side permissive rather than wrong.
            None => path_keys.push((fnv1a(b"/"), PATH_KEY_PREFIX)),
        }
    }
    if path_keys.is_empty() {
        return;
    }
    p.flags |= FP_PATH;
    for k in path_keys {
        *out.paths.entry(k).or_default() |= bit;
    }
    if let Some(names) = &side.path_basenames {
        p.flags |= FP_GATE;
        for n in names {
            out.basenames.entry(name_hash(n.as_bytes())).or_default().1 |= bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bloom_has(words: &[u64; NAME_BLOOM_WORDS], hash: u64) -> bool {
        bloom_bits(hash)
            .iter()
            .all(|bit| words[bit / 64] >> (bit % 64) & 1 == 1)
    }

    #[test]
    fn name_bloom_holds_every_key_and_rejects_most_other_names() {
        let names: BTreeSet<String> = (0..64).map(|i| format!("approved_{i}.conf")).collect();
        let mut f = FileFilters::default();
        f.types.insert(
            FileKind::Open,
            TypeFilter {
                mode: Mode::Filter,
                source: SideFilter {
                    names: names.clone(),
                    name_prefixes: ["id_".to_string()].into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        let c = f.compile();
        let bloom = c.name_bloom();
        // No false negative: a key the filter lacks would be dropped in the kernel.
        for key in c.basenames.keys() {
            assert!(bloom_has(&bloom, *key), "key {key:#x} missing");
        }
        assert!(bloom_has(&bloom, name_hash(b"id_")));
        // Names that differ only in late bytes must still spread (the top bits of the hash are used).
        let others = (0..10_000)
            .map(|i| format!("unrelated-file-{i:05}"))
            .filter(|n| bloom_has(&bloom, name_hash(n.as_bytes())))
            .count();
        assert!(
            others < 200,
            "{others} of 10000 unrelated names pass the filter"
        );
    }

    #[test]
    fn compiles_sides_into_slots_and_keys() {
        let mut f = FileFilters::default();
        f.types.insert(
            FileKind::Open,
            TypeFilter {
                mode: Mode::Filter,
                source: SideFilter {
                    exact_paths: ["/etc/shadow".to_string()].into(),
                    prefixes: ["/etc/ssh/sshd_".to_string()].into(),
                    path_basenames: None,
                    flags_mask: 0o1101,
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        f.types.insert(
            FileKind::Rename,
            TypeFilter {
                mode: Mode::Filter,
                destination: SideFilter {
                    names: ["authorized_keys".to_string()].into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        f.types.insert(FileKind::Chmod, TypeFilter::all());
        let c = f.compile();
        assert_eq!(
            c.slots[0],
            SlotPolicy {
                mode: FILE_MODE_FILTER,
                flags: FP_PATH | FP_FLAGS,
                flags_mask: 0o1101
            }
        );
        assert_eq!(c.slots[1].mode, FILE_MODE_ALL);
        assert_eq!(
            c.slots[6],
            SlotPolicy {
                mode: FILE_MODE_FILTER,
                flags: 0,
                flags_mask: 0
            }
        );
        assert_eq!(
            c.slots[13],
            SlotPolicy {
                mode: FILE_MODE_FILTER,
                flags: FP_NAME,
                flags_mask: 0
            }
        );
        assert_eq!(c.slots[2].mode, FILE_MODE_OFF);
        assert_eq!(c.paths[&(fnv1a(b"/etc/shadow"), PATH_KEY_EXACT)], 1);
        assert_eq!(c.paths[&(fnv1a(b"/etc/"), PATH_KEY_DIR)], 1);
        assert_eq!(c.paths[&(fnv1a(b"/etc/ssh/"), PATH_KEY_PREFIX)], 1);
        assert_eq!(c.basenames[&name_hash(b"authorized_keys")], (1 << 13, 0, 0));
    }

    #[test]
    fn gate_only_with_basenames() {
        let side = SideFilter {
            exact_paths: ["/etc/shadow".to_string()].into(),
            path_basenames: Some(["shadow".to_string()].into()),
            ..Default::default()
        };
        let mut f = FileFilters::default();
        f.types.insert(
            FileKind::Unlink,
            TypeFilter {
                mode: Mode::Filter,
                source: side,
                ..Default::default()
            },
        );
        let c = f.compile();
        assert_eq!(c.slots[5].flags, FP_PATH | FP_GATE);
        assert_eq!(c.basenames[&name_hash(b"shadow")], (0, 1 << 5, 0));
    }
}
