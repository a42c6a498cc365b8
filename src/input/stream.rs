//! JSON objects one after another, however they are laid out: pretty-printed
//! events, several of them, or events run together with no separator (as
//! Firehose writes them). Objects are found by their braces, outside strings.

use std::io::{self, BufRead};

use crate::audit::shard::{Position, Shard};

/// Feeds every top-level object of `r` to `shard` as a record; anything else
/// between objects is one malformed record per run.
///
/// Long: one byte-level state machine (in a string, escaped, depth), which
/// reads best whole.
pub fn read(r: &mut dyn BufRead, input: u32, shard: &mut Shard) -> io::Result<()> {
    let max = shard.settings.max_record_size;
    let at = |line: u64| Position {
        input,
        block: 0,
        line,
        label: None,
    };
    let mut rec: Vec<u8> = Vec::new();
    let (mut depth, mut in_str, mut esc, mut oversize) = (0usize, false, false, false);
    let mut line = 1u64;
    let mut rec_line = 0u64;
    let mut junk_line: Option<u64> = None;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let mut start = 0usize;
        for (i, &b) in buf.iter().enumerate() {
            if b == b'\n' {
                line += 1;
            }
            if depth == 0 {
                match b {
                    b'{' => {
                        if let Some(l) = junk_line.take() {
                            shard.malformed(at(l), "not a JSON object");
                        }
                        depth = 1;
                        start = i;
                        rec_line = line;
                        (in_str, esc, oversize) = (false, false, false);
                    }
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    _ => {
                        junk_line.get_or_insert(line);
                    }
                }
                continue;
            }
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        if oversize {
                            shard.malformed(at(rec_line), "larger than --max-record-size");
                        } else {
                            rec.extend_from_slice(&buf[start..=i]);
                            shard.record(&rec, at(rec_line), None);
                        }
                        rec.clear();
                    }
                }
                _ => {}
            }
        }
        if depth > 0 && !oversize {
            rec.extend_from_slice(&buf[start..n]);
            if rec.len() > max {
                oversize = true;
                rec = Vec::new();
            }
        }
        r.consume(n);
    }
    if depth > 0 {
        shard.malformed(at(rec_line), "cut off: the JSON object does not end");
    }
    if let Some(l) = junk_line {
        shard.malformed(at(l), "not a JSON object");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::shard::Settings;
    use std::sync::Arc;

    fn run(text: &str, max: usize) -> Shard {
        let settings = Settings {
            max_record_size: max,
            keep_all_malformed: true,
            ..Default::default()
        };
        let mut shard = Shard::new(Arc::new(settings));
        // A tiny buffer makes objects straddle reads.
        let mut r = io::BufReader::with_capacity(7, text.as_bytes());
        read(&mut r, 0, &mut shard).unwrap();
        shard
    }

    #[test]
    fn splits_pretty_and_run_together_objects() {
        let s = run(
            "{\n \"a\": \"}{\\\"\",\n \"b\": [1, {\"c\": 2}]\n}{\"d\":1}\n\n{\"e\":\"x\"}",
            1 << 20,
        );
        assert_eq!(
            (s.counts.records, s.counts.skipped, s.counts.malformed),
            (3, 3, 0)
        );
    }

    #[test]
    fn junk_and_a_cut_off_object_are_malformed_with_their_lines() {
        let s = run("{\"a\":1}\ngarbage\n{\"b\":\n", 1 << 20);
        assert_eq!((s.counts.records, s.counts.malformed), (3, 2));
        let lines: Vec<u64> = s
            .malformed
            .iter()
            .map(|m| m.at.position().expect("a file").line)
            .collect();
        assert_eq!(lines, vec![2, 3]);
    }

    #[test]
    fn an_object_over_the_limit_is_skipped_unkept() {
        let big = format!("{{\"a\":\"{}\"}}{{\"b\":1}}", "x".repeat(100));
        let s = run(&big, 50);
        assert_eq!(
            (s.counts.records, s.counts.malformed, s.counts.skipped),
            (2, 1, 1)
        );
    }
}
