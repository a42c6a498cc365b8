//! Offline readers: find the inputs (files, directories, stdin), gunzip,
//! detect each one's format, split it into records and feed them to
//! [`Shard`]s, on every core.
//!
//! Line formats (the bulk of real data) are cut into blocks at line ends and
//! scanned in parallel; large plain files are scanned in place through
//! mapped windows (`mapped`), everything else is read into buffers.
//! Container formats are decoded by the thread that reads them. Each input is
//! read once, through bounded windows and buffers: memory does not grow with
//! the size of an input.

mod containers;
mod frame;
mod mapped;
pub mod sniff;
mod stream;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender};
use flate2::read::MultiGzDecoder;

use crate::audit::shard::{LinePrefix, Position, Settings, Shard};
use crate::error::AppError;
pub use mapped::install_fault_handler;
pub use sniff::Format;
use sniff::Sniffed;

/// Bytes per block handed to a scanner. Measured on 1 GB: 4 MiB blocks
/// scan about a fifth faster than 1 MiB ones (fewer reads, and buffers large
/// enough for transparent huge pages).
const BLOCK: usize = 4 << 20;
/// Bytes read at a time when a thread scans what it reads: small enough
/// that the lines are scanned while still in the core's cache (measured on
/// 1 GB: about 5 % faster than scanning whole 4 MiB blocks).
const STEP: usize = 512 << 10;
/// Bytes looked at to detect a format.
const HEAD: usize = 64 << 10;

/// One input: a file, or `-` for standard input.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    /// Why a directory entry cannot be read (a link loop, an unreadable
    /// directory): the input is reported with this problem, not read.
    pub problem: Option<String>,
}

impl Input {
    pub fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }

    pub fn display(&self) -> String {
        if self.is_stdin() {
            "<stdin>".into()
        } else {
            self.path.display().to_string()
        }
    }
}

/// What became of one input.
#[derive(Debug, Clone, Default)]
pub struct InputReport {
    pub path: String,
    pub format: Option<Format>,
    pub gzip: bool,
    /// Why the input was not read as a whole (unrecognised, cut-off gzip).
    pub problem: Option<String>,
    /// A line format whose head holds JSON but no audit event.
    pub not_audit: bool,
}

/// Whether the head of a line-format input holds no Kubernetes audit event
/// (JSON lines of something else: the wrong log, the wrong export).
fn not_audit(format: Format, head: &[u8]) -> bool {
    matches!(format, Format::Jsonl | Format::Cwexport)
        && !head.is_empty()
        && memchr::memmem::find(head, b"auditID").is_none()
        && memchr::memmem::find(head, b"audit.k8s.io").is_none()
}

/// Expands the command-line paths into inputs: directories recursively, in
/// name order, without CloudWatch's `aws-logs-write-test` objects.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, AppError> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input {
                path: p.clone(),
                problem: None,
            });
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| {
            AppError::Usage(format!("cannot read {}: {}", p.display(), io_reason(&e)))
        })?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut Vec::new(), &mut out);
            if out.len() == before {
                // Said, never a silent empty answer.
                out.push(Input {
                    path: p.clone(),
                    problem: Some("an empty directory: no file to read in it".into()),
                });
            }
        } else {
            out.push(Input {
                path: p.clone(),
                problem: None,
            });
        }
    }
    Ok(out)
}

/// Adds the files under `dir`, in name order. What cannot be read (a
/// directory, a dangling link, a link back to a directory being walked)
/// becomes an input with a problem: warned about and counted, never fatal,
/// so the rest is read. `seen` holds the (device, inode) of the
/// directories being walked.
fn walk(dir: &Path, seen: &mut Vec<(u64, u64)>, out: &mut Vec<Input>) {
    use std::os::unix::fs::MetadataExt;
    let problem = |path: &Path, why: String| Input {
        path: path.to_path_buf(),
        problem: Some(why),
    };
    let id = match std::fs::metadata(dir) {
        Ok(m) => (m.dev(), m.ino()),
        Err(e) => return out.push(problem(dir, io_reason(&e))),
    };
    if seen.contains(&id) {
        return out.push(problem(dir, "a link back to a directory above it".into()));
    }
    let entries = std::fs::read_dir(dir).and_then(|read| {
        read.map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()
    });
    let mut entries = match entries {
        Ok(e) => e,
        Err(e) => {
            return out.push(problem(
                dir,
                format!("cannot read directory: {}", io_reason(&e)),
            ))
        }
    };
    entries.sort();
    seen.push(id);
    for path in entries {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, seen, out),
            Ok(_) if path.file_name().is_some_and(|n| n == "aws-logs-write-test") => {}
            Ok(_) => out.push(Input {
                path,
                problem: None,
            }),
            Err(e) => out.push(problem(&path, io_reason(&e))),
        }
    }
    seen.pop();
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reading threads: as asked (`--threads`), else one per core; 1 to 64.
pub fn threads(asked: Option<usize>) -> usize {
    asked
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64)
}

/// Where reading reports its progress, in bytes read. The terminal's bar
/// lives in the output layer; reading only counts.
pub trait Progress: Send + Sync {
    fn advance(&self, bytes: u64);
}

/// Progress nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _: u64) {}
}

/// How to read: threads, a forced format, progress.
pub struct ReadOptions {
    /// Bytes per range when a plain file is split across threads
    /// ([`RANGE_SIZE`] unless a test asks for small ones).
    pub range_size: u64,
    /// Bytes of a plain file mapped at a time ([`WINDOW`]; 0 reads instead
    /// of mapping, for tests).
    pub window: usize,
    pub threads: usize,
    pub format: Option<Format>,
    pub progress: Arc<dyn Progress>,
}

/// A block of complete lines for a scanner: `data[start..len]`.
struct Block {
    input: u32,
    seq: u64,
    kind: BlockKind,
    data: Vec<u8>,
    start: usize,
    len: usize,
}

enum BlockKind {
    Lines(LinePrefix),
    /// A line longer than `--max-record-size`, skipped unread.
    Oversized,
}

/// Where a reader sends complete blocks: to scanner threads, or straight into
/// its own shard when it scans inline. Buffers are recycled and stay
/// initialised, so no block is zeroed twice.
enum Sink<'a> {
    Inline(&'a std::cell::RefCell<Vec<Vec<u8>>>),
    Pool {
        tx: &'a Sender<Block>,
        free: &'a Receiver<Vec<u8>>,
    },
}

impl Sink<'_> {
    fn buffer(&self) -> Vec<u8> {
        let recycled = match self {
            Sink::Inline(spares) => spares.borrow_mut().pop(),
            Sink::Pool { free, .. } => free.try_recv().ok(),
        };
        // A new buffer comes zeroed from the allocator (fresh pages), not
        // zeroed again by hand.
        recycled.unwrap_or_else(|| vec![0; BLOCK])
    }

    fn send(&self, block: Block, shard: &mut Shard) {
        match self {
            Sink::Inline(spares) => {
                if block.start < block.len || matches!(block.kind, BlockKind::Oversized) {
                    scan_block(shard, &block);
                }
                spares.borrow_mut().push(block.data);
            }
            // The scanners only go away when the run is failing anyway.
            Sink::Pool { tx, .. } => {
                let _ = tx.send(block);
            }
        }
    }
}

fn scan_block(shard: &mut Shard, block: &Block) {
    match block.kind {
        BlockKind::Lines(prefix) => shard.lines(
            &block.data[block.start..block.len],
            block.input,
            block.seq,
            prefix,
        ),
        BlockKind::Oversized => {
            shard.block_lines.push((block.input, block.seq, 1));
            shard.malformed(
                Position {
                    input: block.input,
                    block: block.seq,
                    line: 1,
                    label: None,
                },
                "larger than --max-record-size (skipped unread)",
            );
        }
    }
}

/// A unit of work: a whole input, or a byte range of a large plain file in a
/// line format (ranges start at line starts).
struct Work {
    input: u32,
    range: Option<ByteRange>,
}

struct ByteRange {
    index: u64,
    start: u64,
    end: u64,
    prefix: LinePrefix,
}

/// Plain files of a line format at least a quarter of the range size are
/// split across threads, in ranges of at most the range size, so a thread
/// that runs ahead takes more of them (threads do not always run at the same
/// speed).
pub const RANGE_SIZE: u64 = 64 << 20;

/// Reads every input into one merged shard.
///
/// Long: the whole of the run's threading (a reader per input or range, the
/// scanners, the merge) in one scope, so what runs where is read in one
/// place.
pub fn read_all(
    inputs: &[Input],
    settings: Arc<Settings>,
    opts: &ReadOptions,
) -> (Shard, Vec<InputReport>) {
    let threads = opts.threads.max(1);
    let mut reports: Vec<InputReport> = inputs
        .iter()
        .map(|i| InputReport {
            path: i.display(),
            ..Default::default()
        })
        .collect();
    let mut work = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match plan_ranges(input, threads, opts, settings.max_record_size) {
            Some((format, not_audit, ranges)) => {
                reports[i].format = Some(format);
                reports[i].not_audit = not_audit;
                work.extend(ranges.into_iter().map(|r| Work {
                    input: i as u32,
                    range: Some(r),
                }));
            }
            None => work.push(Work {
                input: i as u32,
                range: None,
            }),
        }
    }
    let reports = Mutex::new(reports);
    let next = AtomicUsize::new(0);
    // With at least as many pieces of work as threads, each thread reads and
    // scans its own; with fewer (one gzip stream), readers hand blocks to a
    // pool of scanners, so inflating and scanning overlap.
    let inline = threads == 1 || work.len() >= threads;
    let readers = if inline {
        threads.min(work.len()).max(1)
    } else {
        work.len()
    };
    let scanners = if inline { 0 } else { threads };
    let (tx, rx) = bounded::<Block>(2 * scanners.max(1));
    let (free_tx, free_rx) = bounded::<Vec<u8>>(4 * (scanners + readers) + 4);
    let mut total: Option<Shard> = None;
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for _ in 0..scanners {
            let (rx, free_tx, settings) = (rx.clone(), free_tx.clone(), settings.clone());
            handles.push(scope.spawn(move || {
                let mut shard = Shard::new(settings);
                for block in rx {
                    scan_block(&mut shard, &block);
                    let _ = free_tx.try_send(block.data);
                }
                shard
            }));
        }
        for _ in 0..readers {
            let (tx, free_rx, settings) = (tx.clone(), free_rx.clone(), settings.clone());
            let (next, reports, work) = (&next, &reports, &work);
            handles.push(scope.spawn(move || {
                let mut shard = Shard::new(settings);
                // Buffers stay with the thread from one piece of work to the next.
                let spares = std::cell::RefCell::default();
                while let Some(w) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let sink = if inline {
                        Sink::Inline(&spares)
                    } else {
                        Sink::Pool {
                            tx: &tx,
                            free: &free_rx,
                        }
                    };
                    let input = &inputs[w.input as usize];
                    let problem = match &w.range {
                        Some(range) => {
                            read_range(input, w.input, range, opts, &mut shard, sink).err()
                        }
                        None => {
                            let report = read_one(input, w.input, opts, &mut shard, sink);
                            let mut all = reports.lock().expect("reports lock");
                            all[w.input as usize] = report;
                            None
                        }
                    };
                    if let Some(p) = problem {
                        reports.lock().expect("reports lock")[w.input as usize].problem = Some(p);
                    }
                }
                shard
            }));
        }
        drop(tx);
        for h in handles {
            match h.join() {
                // Into the first shard, not a new one: one copy fewer.
                Ok(shard) => match &mut total {
                    Some(t) => t.merge(shard),
                    None => total = Some(shard),
                },
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    let mut total = total.unwrap_or_else(|| Shard::new(settings));
    total.finish();
    (total, reports.into_inner().expect("reports lock"))
}

/// Splits a large plain file of a line format into ranges for the threads to
/// take in turn, each starting at a line start. `None` when the input is
/// read whole.
///
/// Long: the conditions for splitting (plain, seekable, a line format, large
/// enough) and the search for line starts are one decision.
fn plan_ranges(
    input: &Input,
    threads: usize,
    opts: &ReadOptions,
    max_record: usize,
) -> Option<(Format, bool, Vec<ByteRange>)> {
    let forced = opts.format;
    let range_size = opts.range_size.max(1);
    use std::os::unix::fs::FileExt;
    if input.is_stdin() || input.problem.is_some() {
        return None;
    }
    // The kind of file before opening it: a named pipe opened here and
    // closed would lose what its writer sent.
    let meta = std::fs::metadata(&input.path).ok()?;
    if !meta.is_file() || meta.len() < range_size / 4 {
        return None;
    }
    let file = File::open(&input.path).ok()?;
    let mut head = vec![0u8; HEAD];
    let n = file.read_at(&mut head, 0).ok()?;
    head.truncate(n);
    // A gzip stream, or a start to clean (a BOM, NUL bytes), is read whole.
    if head.starts_with(&[0x1f, 0x8b]) || blank_start(&head, true) > 0 {
        return None;
    }
    let format = match forced {
        Some(f) => f,
        None => match sniff::sniff(&head, false) {
            Sniffed::Format(f) => f,
            _ => return None,
        },
    };
    let prefix = match format {
        Format::Jsonl => LinePrefix::None,
        Format::Cwexport => LinePrefix::Timestamp,
        _ => return None,
    };
    let size = meta.len();
    let mut starts = vec![0u64];
    let mut chunk = vec![0u8; HEAD];
    // Ranges shrink towards the end of the file (guided scheduling), so the
    // threads finish together: the last pieces are a sixteenth of the range
    // size.
    let smallest = (range_size / 16).max(1);
    let mut cut = 0u64;
    loop {
        let left = size - cut;
        cut += (left / (2 * threads as u64)).clamp(smallest, range_size);
        if cut >= size {
            break;
        }
        // The first line start at or after the nominal cut.
        let mut pos = cut.max(*starts.last().unwrap());
        let limit = pos.saturating_add(max_record as u64).min(size);
        let found = loop {
            if pos >= limit {
                break None;
            }
            let n = file.read_at(&mut chunk, pos - 1).ok()?;
            if n == 0 {
                break None;
            }
            if let Some(i) = memchr::memchr(b'\n', &chunk[..n]) {
                break Some(pos + i as u64);
            }
            pos += n as u64;
        };
        match found {
            Some(s) if s < size && s > *starts.last().unwrap() => starts.push(s),
            _ => {}
        }
    }
    let ranges = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| ByteRange {
            index: i as u64,
            start,
            end: starts.get(i + 1).copied().unwrap_or(size),
            prefix,
        })
        .collect();
    Some((format, not_audit(format, &head), ranges))
}

/// Reads one byte range of a plain file with positional reads.
fn read_range(
    input: &Input,
    id: u32,
    range: &ByteRange,
    opts: &ReadOptions,
    shard: &mut Shard,
    sink: Sink<'_>,
) -> Result<(), String> {
    let fail = |shard: &mut Shard, e: io::Error| {
        let msg = format!("read error: {}", io_reason(&e));
        let at = Position {
            input: id,
            block: (range.index << 40) | (u64::MAX >> 24),
            line: 0,
            label: Some(format!("bytes {}-{}", range.start, range.end)),
        };
        shard.malformed(at, msg.clone());
        msg
    };
    let file = File::open(&input.path).map_err(|e| fail(shard, e))?;
    let (mut pos, mut seq) = (range.start, range.index << 40);
    if opts.window > 0 && matches!(sink, Sink::Inline(_)) {
        (pos, seq) = scan_mapped(&file, id, range, seq, opts, shard).map_err(|e| fail(shard, e))?;
    }
    if pos == range.end {
        return Ok(());
    }
    let mut reader = RangeReader {
        file,
        pos,
        end: range.end,
        bar: Arc::clone(&opts.progress),
    };
    let lines = Lines {
        input: id,
        first_seq: seq,
        prefix: range.prefix,
    };
    read_lines(Vec::new(), None, &mut reader, lines, shard, sink).map_err(|e| fail(shard, e))
}

/// Bytes of a file mapped at a time. A window's pages are the page cache's
/// own, so its size costs no memory of its own (it shows in the resident
/// set all the same, two windows' worth on two threads). Measured on 1 GB:
/// windows of 4 to 16 MiB scan alike, 2 MiB ones a few percent slower.
pub const WINDOW: usize = 8 << 20;

/// Scans a range of a file through mapped windows, each cut at its last line
/// end, for as long as windows can be mapped and hold a line end. Returns
/// where the range is left to be read, and the next block's number. A window
/// that lost pages while it was scanned (they read as zeros) is an error:
/// what was scanned counts, the rest of the range does not.
fn scan_mapped(
    file: &File,
    id: u32,
    range: &ByteRange,
    mut seq: u64,
    opts: &ReadOptions,
    shard: &mut Shard,
) -> io::Result<(u64, u64)> {
    let mut pos = range.start;
    while pos < range.end {
        let end = range.end.min(pos + opts.window as u64);
        // A file that got shorter is read: reads count what is left of it,
        // then say it shrank.
        if file.metadata()?.len() < end {
            break;
        }
        let Some(window) = mapped::Window::map(file, pos, (end - pos) as usize) else {
            break;
        };
        let bytes = window.bytes();
        let lines = if end == range.end {
            bytes.len()
        } else {
            match memchr::memrchr(b'\n', bytes) {
                Some(nl) => nl + 1,
                // A line longer than a window: reads handle it.
                None => break,
            }
        };
        shard.lines(&bytes[..lines], id, seq, range.prefix);
        if window.cut() {
            // Pages go missing when the file shrinks under the window, or
            // when the disk fails to deliver them.
            return Err(if file.metadata()?.len() < end {
                shrank()
            } else {
                io::Error::other("part of the file could not be read (an I/O error)")
            });
        }
        opts.progress.advance(lines as u64);
        (pos, seq) = (pos + lines as u64, seq + 1);
    }
    Ok((pos, seq))
}

/// The error for a file that got shorter while it was read (rotated by
/// copytruncate, say): what was read of it is counted, the rest is not.
fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file shrank while it was read",
    )
}

struct RangeReader {
    file: File,
    pos: u64,
    end: u64,
    bar: Arc<dyn Progress>,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(shrank());
        }
        self.pos += n as u64;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

/// Reads one whole input. Container formats and inline scanning go into `shard`.
///
/// Long: opening, sniffing and dispatching on the format, each of which
/// reports a problem of the input's own in the same way.
fn read_one(
    input: &Input,
    id: u32,
    opts: &ReadOptions,
    shard: &mut Shard,
    sink: Sink<'_>,
) -> InputReport {
    let mut report = InputReport {
        path: input.display(),
        ..Default::default()
    };
    let whole = || Position {
        input: id,
        block: 0,
        line: 0,
        label: Some("the whole input".into()),
    };
    let opened = match &input.problem {
        Some(why) => Err(io::Error::other(why.clone())),
        None => open(input, &opts.progress),
    };
    let source = match opened {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("cannot read {}: {}", input.display(), io_reason(&e));
            report.problem = Some(msg.clone());
            shard.malformed(whole(), msg);
            return report;
        }
    };
    report.gzip = source.gzip;
    let mut reader = source.reader;
    let (head, read_err, skipped_lines) = read_head(&mut reader);
    let complete = read_err.is_some() || head.len() < HEAD;
    let format = match opts.format {
        Some(f) => Some(f),
        None => match sniff::sniff(&head, complete) {
            Sniffed::Empty if read_err.is_none() => None,
            Sniffed::Empty => Some(Format::Jsonl),
            Sniffed::Format(f) => Some(f),
            // To a pattern every log event is text: lines of any log.
            Sniffed::Unrecognised(_) if shard.settings.probe.is_some() => Some(Format::Jsonl),
            Sniffed::Unrecognised(why) => {
                let msg = format!("unrecognised format: {why}");
                report.problem = Some(msg.clone());
                shard.malformed(whole(), msg);
                return report;
            }
        },
    };
    report.format = format;
    let Some(format) = format else { return report };
    report.not_audit = not_audit(format, &head);
    let result = match format {
        Format::Jsonl | Format::Cwexport => {
            let prefix = if format == Format::Cwexport {
                LinePrefix::Timestamp
            } else {
                LinePrefix::None
            };
            // The blank start is block 0, so line numbers stay the file's.
            shard.block_lines.push((id, 0, skipped_lines));
            let lines = Lines {
                input: id,
                first_seq: 1,
                prefix,
            };
            read_lines(head, read_err, &mut reader, lines, shard, sink)
        }
        other => {
            let chained = io::Cursor::new(head).chain(ErrAfter {
                inner: reader,
                pending: read_err,
            });
            let mut r = BufReader::with_capacity(256 << 10, chained);
            containers::read(other, &mut r, id, shard)
        }
    };
    if let Err(e) = result {
        let msg = if report.gzip {
            format!("gzip stream cut off or corrupt: {e}")
        } else {
            format!("read error: {}", io_reason(&e))
        };
        shard.malformed(
            Position {
                input: id,
                block: u64::MAX,
                line: 0,
                label: Some("end of input".into()),
            },
            msg.clone(),
        );
        report.problem = Some(msg);
    }
    report
}

/// Reads the head of an input (up to [`HEAD`] bytes) for sniffing, past a
/// blank start: a UTF-8 byte-order mark, whitespace and NUL bytes (the hole
/// a copytruncate rotation leaves) are dropped, however long, so the head
/// starts at the first record. Returns the head, the error that stopped
/// reading (if any), and how many lines the dropped start held.
fn read_head(reader: &mut dyn Read) -> (Vec<u8>, Option<io::Error>, u64) {
    let mut head = vec![0u8; HEAD];
    let mut filled = 0;
    let mut err = fill_to(reader, &mut head, &mut filled).err();
    head.truncate(filled);
    let mut lines = 0u64;
    let mut first = true;
    loop {
        let blank = blank_start(&head, first);
        first = false;
        lines += memchr::memchr_iter(b'\n', &head[..blank]).count() as u64;
        head.drain(..blank);
        if !head.is_empty() || err.is_some() || filled < HEAD {
            return (head, err, lines);
        }
        // All blank so far: read on.
        head.resize(HEAD, 0);
        filled = 0;
        err = fill_to(reader, &mut head, &mut filled).err();
        head.truncate(filled);
    }
}

/// How many bytes at the start of `head` are blank: a byte-order mark (at
/// the very start of the input), whitespace and NUL bytes.
fn blank_start(head: &[u8], input_start: bool) -> usize {
    let bom = if input_start && head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    bom + head[bom..]
        .iter()
        .position(|&b| !(b.is_ascii_whitespace() || b == 0))
        .unwrap_or(head.len() - bom)
}

/// A reader that yields an error it saw earlier, once its data is read.
struct ErrAfter<R> {
    inner: R,
    pending: Option<io::Error>,
}

impl<R: Read> Read for ErrAfter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        self.inner.read(buf)
    }
}

struct Source {
    reader: Box<dyn Read + Send>,
    gzip: bool,
}

/// Counts bytes read from the underlying file for the progress bar.
struct Counted<R> {
    inner: R,
    bar: Arc<dyn Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

fn open(input: &Input, bar: &Arc<dyn Progress>) -> io::Result<Source> {
    let raw: Box<dyn Read + Send> = if input.is_stdin() {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(&input.path)?)
    };
    let mut buffered = BufReader::with_capacity(
        256 << 10,
        Counted {
            inner: raw,
            bar: Arc::clone(bar),
        },
    );
    let magic = buffered.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Source {
            reader: Box::new(MultiGzDecoder::new(buffered)),
            gzip: true,
        })
    } else {
        Ok(Source {
            reader: Box::new(buffered),
            gzip: false,
        })
    }
}

/// Reads into `buf[*filled..]` until it is full or the input ends.
fn fill_to(r: &mut dyn Read, buf: &mut [u8], filled: &mut usize) -> io::Result<()> {
    while *filled < buf.len() {
        match r.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(()),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Which lines a reader cuts: of which input, numbered from which block,
/// with which prefix.
#[derive(Debug, Clone, Copy)]
struct Lines {
    input: u32,
    first_seq: u64,
    prefix: LinePrefix,
}

/// Cuts a line format into blocks that end at a line end and sends them on,
/// after `head` (bytes already read, and the error that stopped that read).
/// A line longer than the record limit is skipped without being held.
///
/// Long: one loop that owns the buffer as it fills, is scanned in cache,
/// sent, or grown for a long line; the benchmark's hot path, kept whole so
/// the buffer's hand-offs are read in one place.
fn read_lines(
    head: Vec<u8>,
    head_err: Option<io::Error>,
    reader: &mut dyn Read,
    lines: Lines,
    shard: &mut Shard,
    sink: Sink<'_>,
) -> io::Result<()> {
    let Lines {
        input: id,
        first_seq: mut seq,
        prefix,
    } = lines;
    let max = shard.settings.max_record_size;
    let mut buf = sink.buffer();
    if buf.len() < head.len() {
        buf.resize(head.len(), 0);
    }
    buf[..head.len()].copy_from_slice(&head);
    let mut filled = head.len();
    drop(head);
    // Scanning inline, the complete lines of each STEP read are scanned at
    // once, while they are still in the core's cache: `buf[..scanned]` is
    // done. Blocks for scanner threads are sent whole.
    let step = if matches!(sink, Sink::Inline(_)) {
        STEP
    } else {
        BLOCK
    };
    let mut scanned = 0;
    let mut pending_err = head_err;
    let mut want = BLOCK;
    let result = loop {
        if let Some(e) = pending_err.take() {
            break Err(e);
        }
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let read = loop {
            let end = (filled + step).min(want);
            if let Err(e) = fill_to(reader, &mut buf[..end], &mut filled) {
                break Err(e);
            }
            if filled < end || filled == want {
                break Ok(());
            }
            if let Some(nl) = memchr::memrchr(b'\n', &buf[scanned..filled]) {
                let end = scanned + nl + 1;
                shard.lines(&buf[scanned..end], id, seq, prefix);
                (scanned, seq) = (end, seq + 1);
            }
        };
        if let Err(e) = read {
            break Err(e);
        }
        if filled < want {
            break Ok(());
        }
        match memchr::memrchr(b'\n', &buf[..filled]) {
            Some(nl) => {
                let rest = filled - (nl + 1);
                let mut next = sink.buffer();
                if next.len() < rest.max(BLOCK) {
                    next.resize(rest.max(BLOCK), 0);
                }
                next[..rest].copy_from_slice(&buf[nl + 1..filled]);
                let data = std::mem::replace(&mut buf, next);
                sink.send(
                    Block {
                        input: id,
                        seq,
                        kind: BlockKind::Lines(prefix),
                        data,
                        start: scanned,
                        len: nl + 1,
                    },
                    shard,
                );
                (filled, scanned, seq, want) = (rest, 0, seq + 1, BLOCK);
            }
            None if filled > max => {
                // Skip to the end of this line without keeping it.
                let found = skip_line(reader, &mut buf, &mut filled);
                let oversized = Block {
                    input: id,
                    seq,
                    kind: BlockKind::Oversized,
                    data: Vec::new(),
                    start: 0,
                    len: 0,
                };
                sink.send(oversized, shard);
                (seq, want) = (seq + 1, BLOCK);
                match found {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            // A long line: read more of it, up to the record limit.
            None => {
                want = filled
                    .saturating_mul(2)
                    .min(max.saturating_add(1))
                    .max(filled + 1)
            }
        }
    };
    // The rest is the last block. After a read error only its complete
    // lines are: the cut-off record is the one malformed record the error
    // stands for.
    if result.is_err() {
        filled = memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |nl| nl + 1);
    }
    if filled > scanned {
        let rest = &buf[scanned..filled];
        let kind = if rest.len() > max && memchr::memchr(b'\n', rest).is_none() {
            BlockKind::Oversized
        } else {
            BlockKind::Lines(prefix)
        };
        sink.send(
            Block {
                input: id,
                seq,
                kind,
                data: buf,
                start: scanned,
                len: filled,
            },
            shard,
        );
    }
    result
}

/// Discards bytes up to and including the next newline, leaving what follows
/// it at the start of `buf`. Returns false at the end of the input.
fn skip_line(reader: &mut dyn Read, buf: &mut Vec<u8>, filled: &mut usize) -> io::Result<bool> {
    if buf.len() < BLOCK {
        buf.resize(BLOCK, 0);
    }
    loop {
        let n = match reader.read(&mut buf[..BLOCK]) {
            Ok(0) => {
                *filled = 0;
                return Ok(false);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(nl) = memchr::memchr(b'\n', &buf[..n]) {
            buf.copy_within(nl + 1..n, 0);
            *filled = n - nl - 1;
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_shrank_before_its_range_was_read_counts_what_is_left_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "{}\n".repeat(1000)).unwrap();
        let input = Input {
            path,
            problem: None,
        };
        // A range planned when the file was twice as long.
        let range = ByteRange {
            index: 0,
            start: 0,
            end: 6000,
            prefix: LinePrefix::None,
        };
        assert!(install_fault_handler());
        for window in [WINDOW, 0] {
            let opts = ReadOptions {
                range_size: RANGE_SIZE,
                window,
                threads: 1,
                format: None,
                progress: Arc::new(NoProgress),
            };
            let mut shard = Shard::new(Arc::new(Settings::default()));
            let spares = std::cell::RefCell::default();
            let err = read_range(&input, 0, &range, &opts, &mut shard, Sink::Inline(&spares))
                .unwrap_err();
            assert_eq!(err, "read error: the file shrank while it was read");
            assert_eq!(shard.counts.records, 1000 + 1, "window {window}");
            assert_eq!(shard.counts.malformed, 1);
            let at = &shard.malformed[0].at;
            assert_eq!(
                at.position().and_then(|p| p.label.as_deref()),
                Some("bytes 0-6000")
            );
        }
    }
}
