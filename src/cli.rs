//! The options every command shares (output, AWS access and targets), their
//! parsers, and clap's view of the core's value sets. The command tree
//! itself is `cmd::Cli`; each subcommand's own arguments live with it in
//! `cmd/`. Options may come before or after the subcommand; every tunable
//! also reads `SECRET_AUDIT_<FLAG_NAME>`.

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output format of the data on stdout [default: table].
    #[arg(
        long = "output",
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "SECRET_AUDIT_OUTPUT",
        help_heading = "Global options"
    )]
    pub output_format: Option<OutputFormat>,
    /// Colour on terminals: auto is off when stdout is not a terminal, NO_COLOR is set or TERM=dumb.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, env = "SECRET_AUDIT_COLOR", help_heading = "Global options")]
    pub color: ColorChoice,
    /// On a terminal, every column, whole (the default view fits the terminal's width; data formats always have every column).
    #[arg(
        long,
        global = true,
        env = "SECRET_AUDIT_WIDE",
        help_heading = "Global options"
    )]
    pub wide: bool,
    /// More detail on stderr: every malformed record, not only the first few; error causes.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
}

impl GlobalArgs {
    /// The `--output` format (a table unless asked).
    pub fn output(&self) -> OutputFormat {
        self.output_format.unwrap_or(OutputFormat::Table)
    }

    /// Refuses an `--output` other than JSON for a command whose data is a
    /// JSON document (`what` names it).
    pub fn json_only(&self, what: &str) -> Result<(), crate::error::AppError> {
        match self.output_format {
            Some(f) if f != OutputFormat::Json => Err(crate::error::AppError::Usage(format!(
                "{what} is a JSON document: --output {} does not apply (leave it out, or --output json)",
                f.name()
            ))),
            _ => Ok(()),
        }
    }

    /// The reporter of diagnostics, as `-q` and `-v` ask.
    pub fn reporter(&self) -> crate::output::diag::Reporter {
        crate::output::diag::Reporter::new(self.quiet, self.verbose)
    }
}

pub use crate::output::{ColorChoice, OutputFormat};

impl ValueEnum for OutputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            OutputFormat::Table,
            OutputFormat::Json,
            OutputFormat::Csv,
            OutputFormat::Markdown,
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl ValueEnum for ColorChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &[ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }))
    }
}

/// How to reach AWS and which audit log groups to work on, shared by every
/// AWS command. Profile, region and endpoint also come from the standard
/// environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL) and config files.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "AWS options")]
pub struct AwsArgs {
    /// Named profile from the AWS config and credentials files.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS Region, e.g. us-east-1.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this URL instead (a local emulator).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// EKS cluster whose audit log group /aws/eks/NAME/cluster is the target (repeatable).
    #[arg(long = "cluster", value_name = "NAME", value_parser = parse_cluster)]
    pub clusters: Vec<String>,
    /// Audit log group to target by name (repeatable).
    #[arg(long = "log-group-name", value_name = "NAME")]
    pub log_group_names: Vec<String>,
    /// Attempts per AWS call in standard retry mode (1 disables retries).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20), env = "SECRET_AUDIT_MAX_ATTEMPTS")]
    pub max_attempts: u32,
    /// Time limit of one AWS call, retries included (e.g. 60s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, env = "SECRET_AUDIT_OPERATION_TIMEOUT")]
    pub operation_timeout: std::time::Duration,
    /// Time limit of one attempt of an AWS call (e.g. 20s).
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration, env = "SECRET_AUDIT_ATTEMPT_TIMEOUT")]
    pub attempt_timeout: std::time::Duration,
}

pub(crate) fn parse_cluster(s: &str) -> Result<String, String> {
    crate::provision::spec::validate_cluster_name(s).map(|()| s.to_owned())
}

pub use crate::timearg::parse_duration;

/// clap's view of the core's value sets: the core names them (and says
/// what they are); only the command line knows clap.
impl ValueEnum for crate::input::Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let value = clap::builder::PossibleValue::new(self.name()).help(self.about());
        Some(value.aliases(self.aliases().iter().copied()))
    }
}

impl ValueEnum for crate::audit::rollup::Key {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    /// `source_ip` and `user_agent`, as the JSON output names them; the
    /// kebab-case spellings are accepted too.
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use crate::audit::rollup::Key;
        let value = clap::builder::PossibleValue::new(self.name());
        Some(match self {
            Key::SourceIp => value.alias("source-ip"),
            Key::UserAgent => value.alias("user-agent"),
            _ => value,
        })
    }
}
