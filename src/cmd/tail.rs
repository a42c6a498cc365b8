//! `secret-audit tail`: every secret request in the clusters' audit log
//! groups, printed once as it is read; a replay of `--since` to `--until`,
//! or with `--follow` a live stream until `--until` or Ctrl-C; the rollup at
//! the end.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::Args;

use crate::audit::group::{Grouped, Grouping};
use crate::audit::ledger::{Ledger, Retention, Shared};
use crate::audit::rollup::{self, DEFAULT_KEYS};
use crate::audit::shard::{Filter, Settings, Shard};
use crate::audit::tap::{Seen, Tap};
use crate::cli::{parse_duration, AwsArgs, GlobalArgs};
use crate::cmd::provisioning as prov;
use crate::error::{exit, AppError};
use crate::input::InputReport;
use crate::insights::runner::ApiErrorKind;
use crate::output::analysis::{self, Analysis};
use crate::output::progress::Status;
use crate::output::stream::{Line, Printer};
use crate::output::OutputFormat;
use crate::tail::{self as engine, Checkpoint, Config, Pace, Printed, Tracker};
use crate::timearg::parse_window;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Start of the replay: an age (10m, 2h) or RFC 3339.
    #[arg(long, value_name = "TIME", default_value = "10m")]
    pub since: String,
    /// End: an age or RFC 3339 (default: now, or never with --follow).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Keep reading new events until --until or Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only requests on secrets of this namespace (repeatable).
    #[arg(long, value_name = "NAME")]
    pub namespace: Vec<String>,
    /// Only requests by this (effective) user (repeatable).
    #[arg(long, value_name = "NAME")]
    pub user: Vec<String>,
    /// Only requests with this verb (repeatable): get, list, watch, create...
    #[arg(long, value_name = "VERB")]
    pub verb: Vec<String>,
    /// Only denied requests (401, 403).
    #[arg(long)]
    pub denied_only: bool,
    /// The lateness window: each poll reads again this far behind the
    /// newest event, so events ingested late are still read, once.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub max_lag: Duration,
    /// FilterLogEvents calls per second at most, for the whole command (the
    /// account's quota is 5, shared with everything else).
    #[arg(long, value_name = "N", default_value_t = 2.0)]
    pub max_rps: f64,
    /// Time between polls with --follow.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Also print the rollup so far this often (e.g. 10m), while following.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub summary_every: Option<Duration>,
    /// Save the position here after every poll (atomically), and start
    /// from it when it exists: a restart has no gap and no repeat.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Also run the detection rules (the defaults changed by this TOML file):
    /// a finding is printed the moment its episode qualifies.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Benchmark: read this JSON-lines file as a log group whose events
    /// arrive at --simulate-rate a second, in simulated time (no AWS call,
    /// no waiting), for --simulate-hours; statistics on stderr.
    #[arg(long, hide = true, value_name = "FILE")]
    pub simulate: Option<PathBuf>,
    #[arg(long, hide = true, default_value_t = 500.0)]
    pub simulate_rate: f64,
    #[arg(long, hide = true, default_value_t = 1.0)]
    pub simulate_hours: f64,
    /// Benchmark: serve every event, not only those the server filter lets
    /// through (to measure classification).
    #[arg(long, hide = true)]
    pub simulate_unfiltered: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

fn ms(t: chrono::DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Whether a request passes the print-time filters (--verb, --denied-only).
fn shown(args: &TailArgs, seen: &Seen) -> bool {
    (args.verb.is_empty() || args.verb.contains(&seen.verb))
        && (!args.denied_only || seen.code.is_some_and(crate::audit::event::is_denied))
}

/// A tail ready to read: what to read, and where requests go.
struct Prepared {
    targets: Vec<crate::provision::Target>,
    clusters: Vec<String>,
    until: Option<i64>,
    tracker: Tracker,
    shard: Shard,
    rx: crossbeam_channel::Receiver<Seen>,
    /// The detection rules, with --rules.
    engine: Option<crate::rules::Engine>,
}

fn prepare(args: &TailArgs, say: crate::output::diag::Reporter) -> Result<Prepared, AppError> {
    if !(args.max_rps > 0.0 && args.max_rps <= 5.0) {
        return Err(AppError::Usage(
            "--max-rps must be above 0 and at most 5 (the account's FilterLogEvents quota)".into(),
        ));
    }
    let targets = if args.simulate.is_some() {
        vec![crate::provision::Target::cluster("simulated")]
    } else {
        prov::targets(&args.aws)?
    };
    let now = Utc::now();
    let (since, until) =
        parse_window(Some(&args.since), args.until.as_deref(), now).map_err(AppError::Usage)?;
    let until = match (until, args.follow) {
        _ if args.simulate.is_some() => None,
        (Some(u), _) => Some(ms(u)),
        (None, false) => Some(ms(now)),
        (None, true) => None,
    };
    let cfg = Config {
        since: ms(since.expect("given")),
        until,
        max_lag: args.max_lag.as_millis() as i64,
        sweep_every: 10 * 60_000,
        sweep_span: 60 * 60_000,
    };
    let groups: Vec<String> = targets.iter().map(|t| t.log_group.clone()).collect();
    let clusters: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let (tx, rx) = crossbeam_channel::unbounded();
    // Request ids outlive the sweep's reach, so it prints only the unseen.
    let ledger = Ledger::new(
        (
            Grouped::new(Grouping::By(DEFAULT_KEYS.to_vec())),
            Tap::to(tx),
        ),
        Retention::Window {
            completed: (cfg.sweep_span + 2 * cfg.max_lag) * 1000,
            open: 2 * 3600 * 1_000_000,
        },
    );
    let settings = Arc::new(Settings {
        filter: Filter {
            since: None,
            until: None,
            namespaces: args.namespace.clone(),
            users: args.user.clone(),
        },
        ledger: Arc::new(Shared::new(ledger)),
        ..Settings::default()
    });
    let shard = Shard::new(settings);
    let mut tracker = Tracker::new(&groups, cfg, ms(now));
    if let Some(path) = &args.checkpoint {
        if let Some(cp) = read_checkpoint(path)? {
            cp.restore(&mut tracker, &shard);
        }
    }
    let engine = match &args.rules {
        Some(path) => {
            let rules = crate::cmd::analyze::load_rules(Some(path), say)?;
            Some(crate::rules::Engine::new(rules, &clusters.join(", ")))
        }
        None => None,
    };
    Ok(Prepared {
        targets,
        clusters,
        until,
        tracker,
        shard,
        rx,
        engine,
    })
}

/// Polls until done (`--until`, or one pass without `--follow`), Ctrl-C or
/// an error, printing as it goes and saving the checkpoint after each poll.
async fn follow(
    global: &GlobalArgs,
    clients: &crate::aws::Clients,
    args: &TailArgs,
    p: &mut Prepared,
    printer: &mut Printer,
    say: crate::output::diag::Reporter,
) -> anyhow::Result<u8> {
    let source = crate::aws::logs::LogEvents::new(clients);
    let mut pace = crate::tail::pace::Paced::new(args.max_rps, say);
    let stdout = io::stdout();
    let mut status = Status::new(say.is_quiet());
    let (mut events, mut requests, mut throttled, mut newest) = (0u64, 0u64, 0u64, None);
    let mut last_summary = std::time::Instant::now();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let now = Utc::now().timestamp_millis();
        let polled = tokio::select! {
            r = engine::poll(&source, &mut pace, &mut p.tracker, &mut p.shard, &p.rx, now) => r,
            _ = &mut interrupted => {
                status.clear();
                return Ok(exit::INTERRUPTED);
            }
        };
        let (printed, error, polled) = match polled {
            Ok((printed, polled)) => (printed, None, polled),
            Err((e, printed, polled)) => (printed, Some(e), polled),
        };
        events += polled.events;
        requests += printed.len() as u64;
        throttled += u64::from(polled.throttled);
        newest = newest.max(polled.newest);
        status.clear();
        print_all(printer, &stdout, p, args, &printed)?;
        if let Some(every) = args.summary_every {
            if last_summary.elapsed() >= every {
                last_summary = std::time::Instant::now();
                print_rollup(global, &p.shard.snapshot())?;
            }
        }
        status.show(
            events,
            requests,
            newest.map(|n| (now - n) / 1000),
            throttled,
        );
        if let Some(path) = &args.checkpoint {
            write_checkpoint(path, &Checkpoint::of(&p.tracker, &p.shard))?;
        }
        if let Some(e) = error {
            status.clear();
            return Err(match e.kind {
                ApiErrorKind::Transport => AppError::NoAnswer(e.message),
                _ => AppError::Service(e.message),
            }
            .into());
        }
        if p.until.is_some_and(|u| now >= u) || !args.follow {
            status.clear();
            return Ok(exit::OK);
        }
        tokio::select! {
            _ = tokio::time::sleep(args.poll_interval) => {}
            _ = &mut interrupted => {
                status.clear();
                return Ok(exit::INTERRUPTED);
            }
        }
    }
}

pub fn run(global: &GlobalArgs, args: TailArgs) -> anyhow::Result<u8> {
    let say = global.reporter();
    if global.output() == OutputFormat::Markdown {
        return Err(AppError::Usage(
            "tail streams lines: --output markdown does not apply (table, json or csv)".into(),
        )
        .into());
    }
    let mut p = prepare(&args, say)?;
    let mut printer = Printer::new(global.output(), p.targets.len() > 1);
    if let Some(file) = &args.simulate {
        simulate(global, &args, file, &mut p, &mut printer)?;
        p.shard.finish();
        print_rollup(global, &p.shard)?;
        return Ok(exit::OK);
    }
    let reading = std::cell::Cell::new(false);
    let outcome = prov::with_aws(&args.aws, async |clients| {
        crate::alerting::check_groups(clients, &p.targets, "tail", say).await?;
        reading.set(true);
        follow(global, clients, &args, &mut p, &mut printer, say).await
    });
    if !reading.get() {
        return outcome;
    }
    // The rollup of what was read, also before an error.
    p.shard.finish();
    // Events that could not be read, named by log stream and event id.
    analysis::warn(say, &p.shard, &[cloudwatch_input()]);
    let rollup = print_rollup(global, &p.shard);
    let code = outcome?;
    rollup?;
    Ok(code)
}

/// The benchmark's follow: the same polls over a simulated log group, the
/// clock moved on by --poll-interval each time without waiting.
fn simulate(
    global: &GlobalArgs,
    args: &TailArgs,
    file: &std::path::Path,
    p: &mut Prepared,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    struct NoWait;
    impl Pace for NoWait {
        async fn before_call(&mut self) {}
        async fn throttled(&mut self, _n: u32) {}
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let start = p.tracker.config().since;
    let source = crate::tail::sim::Simulated::new(
        &text,
        args.simulate_rate,
        start,
        !args.simulate_unfiltered,
    );
    drop(text);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let step = args.poll_interval.as_millis() as i64;
    let end = start + (args.simulate_hours * 3_600_000.0) as i64;
    let stdout = io::stdout();
    let (mut events, mut pages, mut printed_n, mut busy) = (0u64, 0u64, 0u64, Duration::ZERO);
    let began = std::time::Instant::now();
    let mut now = start;
    while now < end {
        now += step;
        let polled_at = std::time::Instant::now();
        let (printed, polled) = rt
            .block_on(engine::poll(
                &source,
                &mut NoWait,
                &mut p.tracker,
                &mut p.shard,
                &p.rx,
                now,
            ))
            .map_err(|(e, _, _)| AppError::Service(e.message))?;
        print_all(printer, &stdout, p, args, &printed)?;
        busy += polled_at.elapsed();
        events += polled.events;
        pages += polled.pages;
        printed_n += printed.len() as u64;
    }
    let wall = began.elapsed().as_secs_f64();
    let (open, kept) = p.shard.settings.ledger.lock().kept();
    global.reporter().line(format_args!(
        "simulated {:.2} h: {events} events in {pages} pages, {printed_n} requests printed, \
         {wall:.2} s ({:.0} events/s), {:.3} ms from a page to its lines on stdout; \
         kept: {} event ids, {kept} request ids ({open} open)",
        args.simulate_hours,
        events as f64 / wall.max(1e-9),
        busy.as_secs_f64() * 1000.0 / pages.max(1) as f64,
        p.tracker.kept(),
    ));
    Ok(())
}

/// Prints the requests the filters show, and with --rules, each finding
/// the moment its episode qualifies (the rules see every request).
fn print_all(
    printer: &mut Printer,
    stdout: &io::Stdout,
    p: &mut Prepared,
    args: &TailArgs,
    printed: &[Printed],
) -> anyhow::Result<()> {
    let mut out = stdout.lock();
    for r in printed {
        if shown(args, &r.seen) {
            printer.request(
                &mut out,
                &Line {
                    cluster: &p.clusters[r.group],
                    late: r.late,
                    seen: &r.seen,
                },
            )?;
        }
        if let Some(engine) = &mut p.engine {
            for f in engine.push(&r.seen) {
                printer.finding(&mut out, &f)?;
            }
        }
    }
    Ok(())
}

/// The one input of a tail, as the rollup names it.
fn cloudwatch_input() -> InputReport {
    InputReport {
        path: "CloudWatch Logs".into(),
        ..InputReport::default()
    }
}

/// The rollup of every request read: `analyze`'s table, or its JSON
/// document on one line with `"type": "rollup"`; nothing for CSV.
fn print_rollup(global: &GlobalArgs, shard: &Shard) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let reports = [cloudwatch_input()];
    let rows = rollup::rollup(&shard.grouped, None, 1);
    let doc = Analysis {
        shard,
        reports: &reports,
        rows: &rows,
        by: &DEFAULT_KEYS,
        requests: false,
        threads: 1,
        findings: None,
    };
    match global.output() {
        OutputFormat::Csv => {}
        OutputFormat::Json => {
            let mut buf = Vec::new();
            analysis::write(OutputFormat::Json, &doc, &mut buf)?;
            let mut value: serde_json::Value = serde_json::from_slice(&buf)?;
            if let Some(m) = value.as_object_mut() {
                m.insert("type".into(), "rollup".into());
            }
            crate::output::json::write_line(&mut out, &value)?;
        }
        f => {
            writeln!(out)?;
            analysis::write(f, &doc, &mut out)?;
        }
    }
    out.flush().context("writing the rollup")?;
    Ok(())
}

fn read_checkpoint(path: &std::path::Path) -> Result<Option<Checkpoint>, AppError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AppError::Usage(format!(
                "cannot read checkpoint {}: {e}",
                path.display()
            )))
        }
    };
    let cp: Checkpoint = serde_json::from_slice(&text).map_err(|e| {
        AppError::Usage(format!(
            "checkpoint {} is not one tail wrote ({e}): remove it to start afresh",
            path.display()
        ))
    })?;
    if cp.version != engine::CHECKPOINT_VERSION {
        return Err(AppError::Usage(format!(
            "checkpoint {} has version {}, this tail writes {}: remove it to start afresh",
            path.display(),
            cp.version,
            engine::CHECKPOINT_VERSION
        )));
    }
    Ok(Some(cp))
}

/// Writes the checkpoint atomically: a temporary file beside it, renamed.
fn write_checkpoint(path: &std::path::Path, cp: &Checkpoint) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(cp)?)
        .with_context(|| format!("writing checkpoint {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("saving checkpoint {}", path.display()))?;
    Ok(())
}
