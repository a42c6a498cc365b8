//! The Lambda function (`cargo build --features lambda --bin bootstrap`;
//! `scripts/package-lambda` zips it for provided.al2023): the official
//! runtime loop around `secret_audit::lambda::handle`. Configuration comes
//! from the environment (see `secret_audit::lambda`); logs are structured
//! (JSON when the function's log format is JSON); metrics are Embedded
//! Metric Format lines on stdout.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--bench") {
        // scripts/bench: one invocation of each path, no AWS call.
        let done = secret_audit::lambda::bench(&args[1..])?;
        println!("{done}");
        return Ok(());
    }
    run()
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let function = secret_audit::lambda::Function::from_env(|k| std::env::var(k).ok())?;
    let clients = secret_audit::aws::connect(&secret_audit::aws::Settings::default()).await?;
    let (function, clients) = (&function, &clients);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = chrono::Utc::now().timestamp_millis();
        let (summary, metrics) =
            secret_audit::lambda::handle(clients, function, event.payload, now).await?;
        for line in metrics {
            println!("{line}");
        }
        Ok::<Value, Error>(summary)
    }))
    .await
}
