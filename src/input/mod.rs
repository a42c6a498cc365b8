//! Offline readers: find the inputs (files, directories, stdin), gunzip,
//! detect each one's format, split it into records and feed them to
//! [`Shard`]s, on every core.
//!
//! Line formats (the bulk of real data) are cut into blocks at line ends and
//! scanned in parallel; container formats are decoded by the thread that
//! reads them. Each input is read once, with bounded buffers: memory does not
//! grow with the size of an input.

mod containers;
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
pub use sniff::Format;
use sniff::Sniffed;

/// Bytes per block handed to a scanner.
const BLOCK: usize = 1 << 20;
/// Bytes looked at to detect a format.
const HEAD: usize = 64 << 10;

/// One input: a file, or `-` for standard input.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
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
}

/// Expands the command-line paths into inputs: directories recursively, in
/// name order, without CloudWatch's `aws-logs-write-test` objects.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, AppError> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input { path: p.clone() });
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| {
            AppError::Usage(format!("cannot read {}: {}", p.display(), io_reason(&e)))
        })?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(Input { path: p.clone() });
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<(), AppError> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        AppError::Usage(format!(
            "cannot read directory {}: {}",
            dir.display(),
            io_reason(&e)
        ))
    })?;
    let mut entries = read
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            AppError::Usage(format!(
                "cannot read directory {}: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
    entries.sort();
    for path in entries {
        let is_dir = std::fs::metadata(&path)
            .map_err(|e| {
                AppError::Usage(format!("cannot read {}: {}", path.display(), io_reason(&e)))
            })?
            .is_dir();
        if is_dir {
            walk(&path, out)?;
        } else if path.file_name().is_some_and(|n| n != "aws-logs-write-test") {
            out.push(Input { path });
        }
    }
    Ok(())
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// How to read: threads, a forced format, progress.
pub struct ReadOptions {
    pub threads: usize,
    pub format: Option<Format>,
    pub progress: indicatif::ProgressBar,
}

/// A block of complete lines for a scanner.
struct Block {
    input: u32,
    seq: u64,
    kind: BlockKind,
    data: Vec<u8>,
}

enum BlockKind {
    Lines(LinePrefix),
    /// A line longer than `--max-record-size`, skipped unread.
    Oversized,
}

/// Where a reader sends complete blocks: to scanner threads, or straight into
/// its own shard when it scans inline.
enum Sink<'a> {
    /// Spare buffers, recycled.
    Inline(std::cell::RefCell<Vec<Vec<u8>>>),
    Pool {
        tx: &'a Sender<Block>,
        free: &'a Receiver<Vec<u8>>,
    },
}

impl Sink<'_> {
    fn buffer(&self) -> Vec<u8> {
        let mut buf = match self {
            Sink::Inline(spares) => spares.borrow_mut().pop().unwrap_or_default(),
            Sink::Pool { free, .. } => free.try_recv().unwrap_or_default(),
        };
        buf.clear();
        buf
    }

    fn send(&self, block: Block, shard: &mut Shard) {
        match self {
            Sink::Inline(spares) => {
                scan_block(shard, &block);
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
        BlockKind::Lines(prefix) => shard.lines(&block.data, block.input, block.seq, prefix),
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

/// Reads every input into one merged shard.
pub fn read_all(
    inputs: &[Input],
    settings: Arc<Settings>,
    opts: &ReadOptions,
) -> (Shard, Vec<InputReport>) {
    let threads = opts.threads.max(1);
    let reports: Mutex<Vec<InputReport>> = Mutex::new(vec![InputReport::default(); inputs.len()]);
    let next = AtomicUsize::new(0);
    // With at least as many inputs as threads, each thread reads and scans
    // whole inputs; with fewer, readers hand blocks to a pool of scanners.
    let inline = threads == 1 || inputs.len() >= threads;
    let readers = if inline {
        threads.min(inputs.len()).max(1)
    } else {
        inputs.len()
    };
    let scanners = if inline { 0 } else { threads };
    let (tx, rx) = bounded::<Block>(2 * scanners.max(1));
    let (free_tx, free_rx) = bounded::<Vec<u8>>(4 * (scanners + readers) + 4);
    let mut total = Shard::new(settings.clone());
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for _ in 0..scanners {
            let rx = rx.clone();
            let free_tx = free_tx.clone();
            let settings = settings.clone();
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
            let tx = tx.clone();
            let free_rx = free_rx.clone();
            let settings = settings.clone();
            let (next, reports) = (&next, &reports);
            handles.push(scope.spawn(move || {
                let mut shard = Shard::new(settings);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let sink = if inline {
                        Sink::Inline(Default::default())
                    } else {
                        Sink::Pool {
                            tx: &tx,
                            free: &free_rx,
                        }
                    };
                    let report = read_one(input, i as u32, opts, &mut shard, sink);
                    reports.lock().expect("reports lock")[i] = report;
                }
                shard
            }));
        }
        drop(tx);
        for h in handles {
            match h.join() {
                Ok(shard) => total.merge(shard),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    total.finish();
    (total, reports.into_inner().expect("reports lock"))
}

/// Reads one input. Container formats and inline scanning go into `shard`.
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
    let source = match open(input, &opts.progress) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("cannot read {}: {}", input.display(), io_reason(&e));
            report.problem = Some(msg.clone());
            shard.malformed(
                Position {
                    input: id,
                    block: 0,
                    line: 0,
                    label: Some("the whole input".into()),
                },
                msg,
            );
            return report;
        }
    };
    report.gzip = source.gzip;
    let mut reader = source.reader;
    let mut head = Vec::with_capacity(HEAD);
    let read_err = fill(&mut reader, &mut head, HEAD).err();
    let complete = read_err.is_none() && head.len() < HEAD;
    let format = match opts.format {
        Some(f) => Some(f),
        None => match sniff::sniff(&head, complete || read_err.is_some()) {
            Sniffed::Empty if read_err.is_none() => None,
            Sniffed::Empty => Some(Format::Jsonl),
            Sniffed::Format(f) => Some(f),
            Sniffed::Unrecognised(why) => {
                let msg = format!("unrecognised format: {why}");
                report.problem = Some(msg.clone());
                shard.malformed(
                    Position {
                        input: id,
                        block: 0,
                        line: 0,
                        label: Some("the whole input".into()),
                    },
                    msg,
                );
                return report;
            }
        },
    };
    report.format = format;
    let Some(format) = format else { return report };
    let result = match format {
        Format::Jsonl | Format::Cwexport => {
            let prefix = if format == Format::Cwexport {
                LinePrefix::Timestamp
            } else {
                LinePrefix::None
            };
            read_lines(head, read_err, reader, id, prefix, shard, sink)
        }
        other => {
            // Container formats are decoded here; a read error ends them.
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
            format!("read error: {e}")
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
    bar: indicatif::ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn open(input: &Input, bar: &indicatif::ProgressBar) -> io::Result<Source> {
    let raw: Box<dyn Read + Send> = if input.is_stdin() {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(&input.path)?)
    };
    let mut buffered = BufReader::with_capacity(
        256 << 10,
        Counted {
            inner: raw,
            bar: bar.clone(),
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

/// Reads until `buf` holds `want` bytes or the input ends.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    while buf.len() < want {
        let len = buf.len();
        buf.resize(want, 0);
        match r.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(());
            }
            Ok(n) => buf.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Cuts a line format into blocks that end at a line end and sends them on.
/// A line longer than the record limit is skipped without being held.
fn read_lines(
    head: Vec<u8>,
    head_err: Option<io::Error>,
    mut reader: Box<dyn Read + Send>,
    id: u32,
    prefix: LinePrefix,
    shard: &mut Shard,
    sink: Sink<'_>,
) -> io::Result<()> {
    let max = shard.settings.max_record_size;
    let mut seq = 0u64;
    let mut buf = sink.buffer();
    buf.extend_from_slice(&head);
    drop(head);
    let mut pending_err = head_err;
    let mut want = BLOCK;
    let result = loop {
        if let Some(e) = pending_err.take() {
            break Err(e);
        }
        if let Err(e) = fill(&mut reader, &mut buf, want) {
            break Err(e);
        }
        if buf.len() < want {
            break Ok(());
        }
        match memchr::memrchr(b'\n', &buf) {
            Some(nl) => {
                let mut next = sink.buffer();
                next.extend_from_slice(&buf[nl + 1..]);
                buf.truncate(nl + 1);
                let data = std::mem::replace(&mut buf, next);
                sink.send(
                    Block {
                        input: id,
                        seq,
                        kind: BlockKind::Lines(prefix),
                        data,
                    },
                    shard,
                );
                seq += 1;
                want = BLOCK;
            }
            None if buf.len() > max => {
                // Skip to the end of this line without keeping it.
                buf.clear();
                let found = skip_line(&mut reader, &mut buf);
                sink.send(
                    Block {
                        input: id,
                        seq,
                        kind: BlockKind::Oversized,
                        data: Vec::new(),
                    },
                    shard,
                );
                seq += 1;
                want = BLOCK;
                match found {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            // A long line: read more of it, up to the record limit.
            None => {
                want = buf
                    .len()
                    .saturating_mul(2)
                    .min(max.saturating_add(1))
                    .max(buf.len() + 1)
            }
        }
    };
    // The rest is the last block. After a read error only its complete
    // lines are: the cut-off record is the one malformed record the error
    // stands for.
    if result.is_err() {
        buf.truncate(memchr::memrchr(b'\n', &buf).map_or(0, |nl| nl + 1));
    }
    if !buf.is_empty() {
        let kind = if buf.len() > max && memchr::memchr(b'\n', &buf).is_none() {
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
            },
            shard,
        );
    }
    result
}

/// Discards bytes up to and including the next newline; leaves what follows
/// it in `buf`. Returns false at the end of the input.
fn skip_line(reader: &mut dyn Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = vec![0u8; BLOCK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(nl) = memchr::memchr(b'\n', &chunk[..n]) {
            buf.extend_from_slice(&chunk[nl + 1..n]);
            return Ok(true);
        }
    }
}
