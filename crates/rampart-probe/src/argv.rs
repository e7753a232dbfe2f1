//! An argument vector as captured: the whole NUL-separated block (`argv0\0arg1\0…`), or, when it is longer than
//! the bound, its head and its tail with a gap between them. The kernel's exec capture (`bpf/sensor.bpf.c`)
//! and the /proc reading of running processes split the same way, so a padded command line reads the same
//! from both: the arguments an attacker pushes away from the head (`miner <5 KiB> -o stratum+tcp://…`) are in
//! the tail, and the gap says which argument it starts in and how many bytes it skipped.

use crate::skel::types::exec_limit;

/// Bytes of argv kept at most (ARGS_MAX_LEN in bpf/events.h).
pub const ARGS_MAX_BYTES: usize = exec_limit::ARGS_MAX_LEN.0 as usize;
/// The tail's share of the bound when argv is cut (ARGS_TAIL_DIVISOR).
const TAIL_DIVISOR: usize = exec_limit::ARGS_TAIL_DIVISOR.0 as usize;

/// Where the bytes that were not captured lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgsGap {
    /// Index in the full argument vector (argv0 is 0) of the argument the gap starts in.
    pub argument: usize,
    /// Index in [`Argv::argv`] of the first piece of the tail.
    pub position: usize,
    pub skipped_bytes: u64,
}

/// The decoded vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Argv {
    /// Argv0 first, then the arguments; around a gap, the pieces of the arguments it cuts.
    pub argv: Vec<String>,
    /// Some of the vector is missing (a gap, an unreadable block, a block cut mid-string).
    pub truncated: bool,
    /// Bytes of the whole vector, one NUL per argument, captured or not.
    pub size: u64,
    /// Bytes of the longest argument (argv0 included): exact when it was captured or the gap lies inside it,
    /// otherwise the least it can be given the bytes and arguments the gap holds.
    pub longest: u64,
    pub gap: Option<ArgsGap>,
}

/// The head and tail lengths the kernel keeps of a `total`-byte block under a `bound`.
pub fn head_and_tail(total: usize, bound: usize) -> (usize, usize) {
    if total <= bound {
        (total, 0)
    } else {
        let tail = bound / TAIL_DIVISOR;
        (bound - tail, tail)
    }
}

/// The vector of a whole block (read from /proc), kept as the kernel would keep it under [`ARGS_MAX_BYTES`].
pub fn from_block(block: &[u8]) -> Argv {
    let (head, tail) = head_and_tail(block.len(), ARGS_MAX_BYTES);
    let argc = block.iter().filter(|b| **b == 0).count() + usize::from(block.last() != Some(&0));
    from_capture(
        &block[..head],
        &block[block.len() - tail..],
        block.len() as u64,
        argc,
    )
}

/// The vector of a capture: `head` then `tail` (empty when the block was whole) of a block of `size` bytes
/// holding `argc` arguments.
pub fn from_capture(head: &[u8], tail: &[u8], size: u64, argc: usize) -> Argv {
    let captured = (head.len() + tail.len()) as u64;
    if tail.is_empty() && size <= captured {
        let (argv, cut) = split(head);
        return Argv {
            truncated: cut || argc > argv.len(),
            size: size.max(captured),
            longest: argv.iter().map(|a| a.len() as u64).max().unwrap_or(0),
            argv: argv.into_iter().map(lossy).collect(),
            gap: None,
        };
    }
    let skipped = size.saturating_sub(captured);
    // The head's complete strings, then the piece of the argument the gap starts in.
    let (mut pieces, _) = split(head);
    let head_partial = if head.last() == Some(&0) || head.is_empty() {
        0
    } else {
        pieces.last().map_or(0, |p| p.len())
    };
    let complete = pieces.len() - usize::from(head_partial > 0);
    // The tail's pieces belong to the last arguments: its first piece (before its first NUL) ends argument
    // argc - k, where k is the number of NULs in the tail.
    let tail_strings = tail.iter().filter(|b| **b == 0).count();
    let mut tail_pieces: Vec<&[u8]> = tail.split(|b| *b == 0).collect();
    if tail.last() == Some(&0) {
        tail_pieces.pop();
    }
    // Without a tail (it could not be read) the gap runs to the end of the last argument, its NUL included.
    let tail_first = if tail.is_empty() {
        argc.checked_sub(1)
    } else {
        argc.checked_sub(tail_strings)
    };
    let tail_partial = tail_pieces.first().map_or(0, |p| p.len()) as u64;
    if tail_first == Some(0) && !tail_pieces.is_empty() {
        // the tail starts inside argv0 (longer than the head): its end is not an argument
        tail_pieces.remove(0);
    }
    let visible = pieces
        .iter()
        .chain(&tail_pieces)
        .map(|p| p.len() as u64)
        .max()
        .unwrap_or(0);
    // The arguments the gap spans: from the head's cut one to the tail's first, with a NUL after each but
    // the last (whose NUL is in the tail, when there is one).
    let in_gap = head_partial as u64 + skipped + tail_partial;
    let longest_in_gap = match tail_first {
        Some(last) if last >= complete => {
            let spanned = (last - complete + 1) as u64;
            let nuls = spanned - 1 + u64::from(tail.is_empty());
            in_gap.saturating_sub(nuls).div_ceil(spanned)
        }
        // inconsistent counts: the bytes seen around the gap are all that is sure
        _ => head_partial.max(tail_partial as usize) as u64,
    };
    let position = pieces.len();
    pieces.extend(tail_pieces);
    Argv {
        argv: pieces.into_iter().map(lossy).collect(),
        truncated: true,
        size,
        longest: visible.max(longest_in_gap),
        gap: Some(ArgsGap {
            argument: complete,
            position,
            skipped_bytes: skipped,
        }),
    }
}

/// NUL-separated strings; true when the last one has no NUL (cut mid-string).
pub(crate) fn split(block: &[u8]) -> (Vec<&[u8]>, bool) {
    if block.is_empty() {
        return (Vec::new(), false);
    }
    let unterminated = block.last() != Some(&0);
    let body = if unterminated {
        block
    } else {
        &block[..block.len() - 1]
    };
    (body.split(|b| *b == 0).collect(), unterminated)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(args: &[&str]) -> Vec<u8> {
        args.iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect()
    }

    #[test]
    fn a_short_vector_is_whole() {
        let v = from_block(&block(&["ls", "-l", "/tmp"]));
        assert_eq!(v.argv, ["ls", "-l", "/tmp"]);
        assert!(!v.truncated);
        assert_eq!((v.size, v.longest, v.gap), (11, 4, None));
    }

    #[test]
    fn one_padded_argument_keeps_the_trailing_ones_and_its_exact_size() {
        let pad = "A".repeat(5000);
        let args = [
            "miner",
            &pad,
            "-o",
            "stratum+tcp://pool:3333",
            "--donate-level=1",
        ];
        let full = block(&args);
        let v = from_block(&full);
        assert!(v.truncated);
        assert_eq!(v.size, full.len() as u64);
        assert_eq!(
            v.longest, 5000,
            "the gap lies inside one argument: its size is exact"
        );
        let gap = v.gap.unwrap();
        assert_eq!(gap.argument, 1, "the padding is cut");
        assert_eq!(gap.skipped_bytes, full.len() as u64 - 4096);
        assert_eq!(v.argv[0], "miner");
        assert!(v.argv[1].chars().all(|c| c == 'A'));
        assert_eq!(
            &v.argv[v.argv.len() - 3..],
            ["-o", "stratum+tcp://pool:3333", "--donate-level=1"]
        );
        assert_eq!(gap.position, 2);
        assert!(v.argv[gap.position].chars().all(|c| c == 'A'));
    }

    #[test]
    fn many_ordinary_arguments_give_a_small_longest() {
        let files: Vec<String> = (0..600)
            .map(|i| format!("src/module/file_{i:04}.c"))
            .collect();
        let mut args = vec!["cc"];
        args.extend(files.iter().map(String::as_str));
        let v = from_block(&block(&args));
        assert!(v.truncated);
        assert_eq!(
            v.longest, 22,
            "every argument is 22 bytes, the gap's average too"
        );
        assert_eq!(v.argv.last().unwrap(), "src/module/file_0599.c");
        let gap = v.gap.unwrap();
        assert!(gap.argument > 100 && gap.argument < 200, "{gap:?}");
    }

    #[test]
    fn a_padded_argv0_is_not_an_argument() {
        let pad = "P".repeat(6000);
        let v = from_block(&block(&[&pad, "-o", "x"]));
        assert_eq!(v.gap.unwrap().argument, 0);
        assert_eq!(v.longest, 6000);
        assert_eq!(
            v.argv.len(),
            3,
            "argv0's head, then -o and x: {:?}",
            v.argv.len()
        );
        assert_eq!(&v.argv[1..], ["-o", "x"]);
    }

    #[test]
    fn inconsistent_counts_do_not_panic() {
        let v = from_capture(b"a\0bb", b"c\0d\0", 100, 1);
        assert!(v.truncated);
        assert_eq!(v.size, 100);
        let v = from_capture(b"", b"", 0, 5);
        assert!(v.truncated, "argc says five, none was read");
        let v = from_capture(b"ab", b"", 2, 1);
        assert!(v.truncated, "cut mid-string");
    }
}
