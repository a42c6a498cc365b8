//! The scan every byte of a line format goes through: where each line ends,
//! and whether the needle occurs in it, found in one pass.
//!
//! On x86-64 with AVX2, each 64 bytes are loaded once and checked for line
//! ends and for the needle's rare bytes together, with the data a few pages
//! ahead prefetched: in a memory-mapped file the next bytes come from main
//! memory, and the hardware prefetcher stops at every 4 KiB page. Elsewhere
//! (and for the last bytes of a block) `memchr` finds line ends and the
//! needle in two passes; both paths give the same lines.

use std::sync::LazyLock;

use memchr::memmem;

/// The bytes every record about secrets contains (the API server never
/// escapes this word); records without it are only checked for framing.
pub const NEEDLE: &[u8] = b"\"secrets\"";

/// Calls `line(start, end, has_needle)` for each line of `block` in order:
/// `block[start..end]` without its `\n`. A last line without a `\n` counts;
/// an empty one after the last `\n` does not.
#[inline]
pub fn for_each_line(block: &[u8], line: impl FnMut(usize, usize, bool)) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2::for_each_line(block, line) };
    }
    for_each_line_from(block, State::default(), line)
}

/// Where the scan of a block stands: bytes before `at` are scanned, the
/// current line starts at `start`, and `hit` says whether the needle occurs
/// in `block[start..at]`.
#[derive(Debug, Default, Clone, Copy)]
struct State {
    at: usize,
    start: usize,
    hit: bool,
}

/// The needle's searcher, built once.
static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| {
    memmem::FinderBuilder::new().build_forward_with_ranker(AuditJsonBytes, NEEDLE)
});

/// Does `record` contain the needle?
pub fn has_needle(record: &[u8]) -> bool {
    FINDER.find(record).is_some()
}

/// Byte frequencies of audit-log JSON, so the searcher's prefilter keys on
/// the needle's rarest bytes there (`c`, `r`) rather than on `"`, which is
/// rare in prose but one byte in ten of JSON.
struct AuditJsonBytes;

impl memchr::arch::all::packedpair::HeuristicFrequencyRank for AuditJsonBytes {
    fn rank(&self, byte: u8) -> u8 {
        // Measured on gen_audit.py output: " 9.7%, e 8.8%, s 5.9%, t 5.0%,
        // r 3.3%, c 2.5%.
        match byte {
            b'"' => 255,
            b'e' => 250,
            b's' => 240,
            b't' => 230,
            b'r' => 200,
            b'c' => 180,
            _ => 100,
        }
    }
}

/// The portable scan, from `state` on: line ends with `memchr`, the needle
/// with `memmem`, merged.
fn for_each_line_from(block: &[u8], state: State, mut line: impl FnMut(usize, usize, bool)) {
    let State {
        at,
        mut start,
        mut hit,
    } = state;
    let rest = &block[at..];
    let mut hits = FINDER.find_iter(rest).map(|h| at + h).peekable();
    for end in memchr::memchr_iter(b'\n', rest).map(|e| at + e) {
        while hits.next_if(|&h| h < end).is_some() {
            hit = true;
        }
        line(start, end, hit);
        (start, hit) = (end + 1, false);
    }
    if start < block.len() {
        line(start, block.len(), hit || hits.peek().is_some());
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{for_each_line_from, State, NEEDLE};

    /// How far ahead of the scan data is prefetched: a page, so the next
    /// page's first lines are on their way before the scan gets there
    /// (measured on 1 GB: 2 to 8 KiB scan alike, 512 bytes is too close).
    const AHEAD: usize = 4096;
    /// Bytes past a 64-byte chunk that the needle check reads: a needle
    /// starting in the chunk's last byte ends 8 bytes on.
    const OVERHANG: usize = NEEDLE.len() - 1;

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn for_each_line(block: &[u8], mut line: impl FnMut(usize, usize, bool)) {
        let p = block.as_ptr();
        let newline = _mm256_set1_epi8(b'\n' as i8);
        // Candidates are positions with `c` three bytes on, `r` four bytes
        // on and `"` eight bytes on, as in `"secrets"`: rare together in
        // JSON, so few are checked in full.
        let (c, r, quote) = (
            _mm256_set1_epi8(NEEDLE[3] as i8),
            _mm256_set1_epi8(NEEDLE[4] as i8),
            _mm256_set1_epi8(NEEDLE[8] as i8),
        );
        // SAFETY (every load below): `at + 64 + OVERHANG <= block.len()`,
        // and the furthest load reads `p[at + 32 + 8 .. at + 32 + 8 + 32]`.
        let load = |at: usize| unsafe { _mm256_loadu_si256(p.add(at).cast()) };
        let mask = |v: __m256i, b: __m256i| _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, b)) as u32;
        let candidates = |at: usize| {
            let both = _mm256_and_si256(
                _mm256_cmpeq_epi8(load(at + 3), c),
                _mm256_cmpeq_epi8(load(at + 4), r),
            );
            _mm256_movemask_epi8(_mm256_and_si256(
                both,
                _mm256_cmpeq_epi8(load(at + 8), quote),
            )) as u32
        };
        let (mut at, mut start, mut hit) = (0usize, 0usize, false);
        while at + 64 + OVERHANG <= block.len() {
            // A prefetch never faults, even past the end of a mapping.
            _mm_prefetch(p.wrapping_add(at + AHEAD).cast(), _MM_HINT_T0);
            let mut ends =
                mask(load(at), newline) as u64 | (mask(load(at + 32), newline) as u64) << 32;
            let mut cand = candidates(at) as u64 | (candidates(at + 32) as u64) << 32;
            // Needles starting in this chunk, as bits.
            let mut hits = 0u64;
            while cand != 0 {
                let bit = cand.trailing_zeros() as usize;
                if &block[at + bit..at + bit + NEEDLE.len()] == NEEDLE {
                    hits |= 1 << bit;
                }
                cand &= cand - 1;
            }
            while ends != 0 {
                let bit = ends.trailing_zeros() as usize;
                let before = (1u64 << bit) - 1;
                line(start, at + bit, hit || hits & before != 0);
                (start, hit) = (at + bit + 1, false);
                hits &= !before;
                ends &= ends - 1;
            }
            hit |= hits != 0;
            at += 64;
        }
        for_each_line_from(block, State { at, start, hit }, line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(block: &[u8]) -> Vec<(usize, usize, bool)> {
        let mut out = Vec::new();
        for_each_line(block, |s, e, h| out.push((s, e, h)));
        out
    }

    /// What the scan must find, the slow way.
    fn expected(block: &[u8]) -> Vec<(usize, usize, bool)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, &b) in block.iter().enumerate() {
            if b == b'\n' {
                out.push((start, i, contains(&block[start..i])));
                start = i + 1;
            }
        }
        if start < block.len() {
            out.push((start, block.len(), contains(&block[start..])));
        }
        out
    }

    fn contains(line: &[u8]) -> bool {
        line.windows(NEEDLE.len()).any(|w| w == NEEDLE)
    }

    #[test]
    fn lines_and_needles_are_found_wherever_they_fall() {
        // Every needle position against every 64-byte boundary, with line
        // ends just before and after it, in blocks long enough for the
        // vector path and short enough for only the tail.
        for len in [0usize, 1, 9, 40, 72, 73, 130, 200, 300] {
            for at in 0..len.saturating_sub(NEEDLE.len()) + 1 {
                let mut block = vec![b'x'; len];
                if at + NEEDLE.len() <= len {
                    block[at..at + NEEDLE.len()].copy_from_slice(NEEDLE);
                }
                for cut in [at.wrapping_sub(1), at + NEEDLE.len(), at + 4] {
                    let mut b = block.clone();
                    if cut < len {
                        b[cut] = b'\n';
                    }
                    assert_eq!(
                        lines_of(&b),
                        expected(&b),
                        "len {len}, needle at {at}, cut {cut}"
                    );
                    assert_eq!(
                        {
                            let mut out = Vec::new();
                            for_each_line_from(&b, State::default(), |s, e, h| out.push((s, e, h)));
                            out
                        },
                        expected(&b)
                    );
                }
            }
        }
    }

    #[test]
    fn near_misses_and_crowds_are_told_apart() {
        // A pseudo-random mix of line ends, the needle, its candidate bytes
        // without the rest of it, and the word without quotes.
        let parts: [&[u8]; 8] = [
            b"\n",
            NEEDLE,
            b"secrets",
            b"\"secret\"",
            b"xxxcrxxx\"",
            b"\"secrets",
            b"{\"a\":\"b\"}",
            b"\n\n",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..200 {
            let mut block = Vec::new();
            for _ in 0..round {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                block.extend_from_slice(parts[(seed % 8) as usize]);
            }
            assert_eq!(lines_of(&block), expected(&block), "round {round}");
        }
    }
}
