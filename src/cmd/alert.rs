//! `secret-audit alert PATH...`: the detection rules over exported audit
//! logs, through the same pipeline as `analyze` (the rules read the
//! ledger's tap: each request once, with its outcome); with `--cluster` or
//! `--log-group-name`, on a schedule against CloudWatch Logs
//! (`cmd::scheduled`). Exit 1 when it reports a finding.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::audit::group::Grouping;
use crate::audit::rollup::{self, DEFAULT_KEYS};
use crate::audit::shard::{tapped_ledger, Settings};
use crate::cli::GlobalArgs;
use crate::cmd::analyze::{at_least_one, parse_size};
use crate::error::{exit, AppError};
use crate::input::{self, Format, ReadOptions};
use crate::output::analysis;
use crate::output::OutputFormat;
use crate::rules::Rule;

#[derive(Debug, Args)]
pub struct AlertArgs {
    /// Files or directories (read recursively) to evaluate; `-` reads stdin.
    /// With --cluster or --log-group-name instead: CloudWatch Logs.
    #[arg(
        required_unless_present_any = ["list_rules", "clusters", "log_group_names"],
        conflicts_with_all = ["clusters", "log_group_names"],
        value_name = "PATH"
    )]
    pub paths: Vec<PathBuf>,
    /// The rules config (TOML): per rule, enabled, severity, threshold,
    /// window, allow (see `--list-rules` for the defaults).
    #[arg(long, value_name = "FILE", env = "SECRET_AUDIT_RULES")]
    pub rules: Option<PathBuf>,
    /// Print the effective rule set, with each default's reason, and stop.
    #[arg(long)]
    pub list_rules: bool,
    /// Read every input as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Print the alerting stack (the Lambda function on a schedule, its
    /// role, topic, state table, alarms; a subscription filter behind a
    /// parameter) as a template for --cluster/--log-group-name, and stop.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub emit: Option<crate::cmd::setup::Emit>,
    /// Add the rollup (as `analyze` prints it) to the JSON document.
    #[arg(long)]
    pub rollup: bool,
    /// How much history a rule that compares with it (new source for a
    /// principal) learns before it may fire: from --state, or else the
    /// input's first DURATION.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = crate::timearg::parse_duration)]
    pub learn: std::time::Duration,
    /// Keep what the learning rules learn in FILE (JSON), and start from it:
    /// run over each day's export with the same FILE and every day is
    /// compared with the days before. Created when missing.
    #[arg(long, value_name = "FILE", env = "SECRET_AUDIT_STATE")]
    pub state: Option<PathBuf>,
    /// Records larger than this are malformed and skipped unread.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size, env = "SECRET_AUDIT_MAX_RECORD_SIZE")]
    pub max_record_size: usize,
    #[command(flatten)]
    pub schedule: crate::cmd::scheduled::ScheduleArgs,
    #[command(flatten)]
    pub aws: crate::cli::AwsArgs,
    /// Threads for reading (default: every core).
    #[arg(long, value_name = "N", env = "SECRET_AUDIT_THREADS", value_parser = |s: &str| at_least_one(s, "omit --threads for every core"))]
    pub threads: Option<usize>,
}

pub fn run(global: &GlobalArgs, args: AlertArgs) -> anyhow::Result<u8> {
    let say = global.reporter();
    let mut rules = crate::cmd::analyze::load_rules(args.rules.as_deref(), say)?;
    for rule in rules.iter_mut().filter(|r| r.learn > 0) {
        rule.learn = args.learn.as_millis() as i64;
    }
    if args.list_rules {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        crate::output::findings::write_rules(global.output(), &rules, &mut out)?;
        out.flush()?;
        return Ok(exit::OK);
    }
    if args.emit.is_some() {
        global.json_only("a CloudFormation template")?;
        let targets = crate::cmd::provisioning::targets(&args.aws)?;
        let secs = args.schedule.every.as_secs();
        let every = secs / 60;
        if !secs.is_multiple_of(60) || !crate::alerting::stack::EVERY_MINUTES.contains(&every) {
            return Err(AppError::Usage(format!(
                "--every for the stack's schedule must be whole minutes dividing an hour: one of {:?}",
                crate::alerting::stack::EVERY_MINUTES
            ))
            .into());
        }
        let rules_toml = match &args.rules {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                AppError::Usage(format!("cannot read rules {}: {e}", path.display()))
            })?,
            None => String::new(),
        };
        let duration = |d: std::time::Duration| format!("{}s", d.as_secs());
        let (settle, max_lag) = (
            duration(args.schedule.settle),
            duration(args.schedule.max_lag),
        );
        let template = crate::alerting::stack::template(
            &targets,
            &rules,
            &crate::alerting::stack::StackSettings {
                every_minutes: every,
                settle: &settle,
                max_lag: &max_lag,
                topic: args.schedule.sns_topic_arn.as_deref(),
                rules_toml: &rules_toml,
            },
        );
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        crate::output::json::write(&mut out, &template)?;
        out.flush()?;
        return Ok(exit::OK);
    }
    if !args.aws.clusters.is_empty() || !args.aws.log_group_names.is_empty() {
        return crate::cmd::scheduled::run(
            global,
            &args.schedule,
            &args.aws,
            args.state.as_deref(),
            rules,
        );
    }
    if args.schedule.since.is_some() || args.schedule.sns_topic_arn.is_some() {
        return Err(AppError::Usage(
            "--since, --until and --sns-topic-arn are for runs on CloudWatch (--cluster or --log-group-name); over files every event is evaluated and findings go to stdout".into(),
        )
        .into());
    }
    over_files(global, &args, rules)
}

/// `alert PATH...`.
fn over_files(global: &GlobalArgs, args: &AlertArgs, rules: Vec<Rule>) -> anyhow::Result<u8> {
    let say = global.reporter();
    let (_lock, mut state) = match &args.state {
        Some(path) => (
            Some(crate::rules::state::lock(path).map_err(AppError::Usage)?),
            crate::rules::state::load(path).map_err(AppError::Usage)?,
        ),
        None => Default::default(),
    };
    let learned = std::mem::take(&mut state.history);
    let (tap, collecting) = crate::cmd::analyze::rules_tap(Some(&rules));
    let settings = Arc::new(Settings {
        max_record_size: args.max_record_size,
        keep_all_malformed: say.is_verbose(),
        ledger: tapped_ledger(Grouping::By(DEFAULT_KEYS.to_vec()), tap),
        ..Settings::default()
    });
    let inputs = input::collect_inputs(&args.paths)?;
    input::install_fault_handler();
    crate::output::diag::install_interrupt_message();
    let threads = input::threads(args.threads);
    let progress = crate::output::progress::bytes_bar(
        crate::cmd::analyze::total_bytes(&inputs),
        say.is_quiet(),
    );
    let opts = ReadOptions {
        threads,
        format: args.format,
        range_size: input::RANGE_SIZE,
        window: input::WINDOW,
        progress: Arc::new(progress.clone()),
    };
    let (shard, reports) = input::read_all(&inputs, settings, &opts);
    progress.finish_and_clear();
    analysis::warn(say, &shard, &reports);
    let (findings, learned) = crate::cmd::analyze::learned_findings_of(
        &rules,
        collecting.expect("rules were given").finish(),
        &reports,
        learned,
    );
    if let Some(path) = &args.state {
        state.history = learned;
        crate::rules::state::save(path, &state).map_err(anyhow::Error::msg)?;
    }
    let totals = rollup::totals(&shard.grouped);
    let summary = analysis::summary(&shard, &reports, &totals);
    let rollup = (args.rollup && global.output() == OutputFormat::Json)
        .then(|| analysis::rollup_value(&rollup::rollup(&shard.grouped, None, threads)))
        .transpose()?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    crate::output::findings::write(global.output(), &findings, summary, rollup, &mut out)?;
    out.flush().context("writing the findings")?;
    Ok(if findings.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
