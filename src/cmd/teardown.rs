//! `secret-audit teardown`: delete exactly what setup manages (filters by
//! name prefix in the target's group, alarms by prefix and tags, saved
//! queries in the target's folder), with the same plan and `--dry-run`.

use clap::Args;

use crate::cli::{AwsArgs, GlobalArgs};
use crate::cmd::provisioning as prov;
use crate::error::exit;
use crate::provision::plan::plan_teardown;

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// Print the plan and stop: no write call.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub fn run(global: &GlobalArgs, args: TeardownArgs) -> anyhow::Result<u8> {
    let say = global.reporter();
    let targets = prov::targets(&args.aws)?;
    prov::with_aws(&args.aws, async |clients| {
        let mut plans = Vec::new();
        for t in &targets {
            let state = prov::read_state(clients, t, true)
                .await
                .map_err(prov::aws_error)?;
            plans.push((
                t.clone(),
                plan_teardown(&state.existing, &prov::query_names(t)),
            ));
        }
        {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            crate::output::plan::write(global.output(), &plans, args.dry_run, &mut out)?;
            std::io::Write::flush(&mut out)?;
        }
        let summary = prov::summary(&plans);
        if args.dry_run {
            say.line(format_args!(
                "teardown: dry run, nothing changed (plan: {summary})"
            ));
            return Ok(exit::OK);
        }
        let done = prov::apply(clients, &plans, "teardown").await?;
        if done == 0 {
            say.line(format_args!("teardown: nothing to remove"));
        } else {
            say.line(format_args!(
                "teardown: removed {done} resource{} ({summary})",
                if done == 1 { "" } else { "s" }
            ));
        }
        Ok(exit::OK)
    })
}
