//! gen-audit: writes realistic EKS audit logs; prints their truth as JSON.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gen_audit::{parse_start, Format, Scenario, Size, Spec};

/// Writes realistic, deterministic Amazon EKS audit logs in an export format
/// and prints their ground truth as JSON (records, secret records, secret
/// requests by verb, denied, distinct namespace/secret/user, metric read
/// events). The same seed gives the same events in every format.
#[derive(Parser)]
#[command(name = "gen-audit", version)]
struct Args {
    /// Stop after this many requests (default 1000 unless --mb is given).
    #[arg(long)]
    events: Option<u64>,
    /// Stop after about this many MB of output, before compression.
    #[arg(long)]
    mb: Option<f64>,
    /// jsonl, cwexport, fle, eventlist, insights, insights-csv, firehose,
    /// firehose-cwl or lambda-event.
    #[arg(long, default_value = "jsonl")]
    format: Format,
    /// Where to write the log; - for stdout.
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Where to write the truth; - for stderr.
    #[arg(long, default_value = "-")]
    truth: PathBuf,
    /// Compress the output with gzip (firehose-cwl is gzip already).
    #[arg(long)]
    gzip: bool,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The first request's time: RFC 3339, or now, now-2h, now-30m.
    #[arg(long, default_value = "2026-11-01T00:00:00Z", value_parser = parse_start)]
    start: chrono::DateTime<chrono::Utc>,
    /// Add a RequestReceived record before some requests' first stage.
    #[arg(long)]
    stages_all: bool,
    /// Impersonation, 401 answers and Panic stages on some secret requests.
    #[arg(long)]
    exotic: bool,
    /// two-day: a small cluster's benign day, then a day with one attack of
    /// each kind the detection rules know, listed in the truth's `attacks`
    /// (two days long unless --events or --mb says otherwise).
    #[arg(long)]
    scenario: Option<Scenario>,
    /// Write only the records on secrets.
    #[arg(long)]
    only_secrets: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.gzip && a.format.is_gzip() {
        eprintln!("gen-audit: {} is gzip already; drop --gzip", a.format);
        return ExitCode::from(2);
    }
    let size = match (a.mb, a.events) {
        (Some(mb), None) => Size::Bytes((mb * 1e6) as u64),
        (None, None) if a.scenario.is_some() => Size::Span(a.scenario.unwrap().span()),
        (None, n) => Size::Requests(n.unwrap_or(1000)),
        (Some(_), Some(_)) => {
            eprintln!("gen-audit: give --mb or --events, not both");
            return ExitCode::from(2);
        }
    };
    let spec = Spec {
        seed: a.seed,
        start: a.start,
        stages_all: a.stages_all,
        exotic: a.exotic,
        size,
        format: a.format,
        gzip: a.gzip,
        scenario: a.scenario,
        only_secrets: a.only_secrets,
    };
    let result = if a.out.as_os_str() == "-" {
        let stdout = io::stdout().lock();
        let mut out = io::BufWriter::with_capacity(1 << 20, stdout);
        spec.write(&mut out).and_then(|t| out.flush().map(|_| t))
    } else {
        spec.write_file(&a.out)
    };
    let truth = match result {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gen-audit: {}: {e}", a.out.display());
            return ExitCode::FAILURE;
        }
    };
    let json = serde_json::to_string(&truth).expect("the truth serializes");
    let written = if a.truth.as_os_str() == "-" {
        writeln!(io::stderr(), "{json}")
    } else {
        std::fs::write(&a.truth, json + "\n")
    };
    if let Err(e) = written {
        eprintln!("gen-audit: {}: {e}", a.truth.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
