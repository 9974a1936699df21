//! `switchyard healthcheck`: exit 0 when a gateway answers `GET /healthz` with 200, and
//! non-zero (saying why) otherwise. A container image's `HEALTHCHECK` runs it, since the
//! image has no curl or shell (deploy/container/Containerfile).

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// `switchyard healthcheck` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct HealthcheckArgs {
    /// What to ask.
    #[arg(
        long,
        env = "SWITCHYARD_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:8080/healthz"
    )]
    url: String,
    /// Longest wait for the answer, in seconds.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
}

/// Ask, and fail unless the answer is a 2xx within the time limit.
pub(crate) async fn run(args: HealthcheckArgs) -> Result<()> {
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .context("--timeout must be a number of seconds above 0")?;
    // reqwest is built without a default TLS crypto provider: ring's, as elsewhere.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .context("cannot build the HTTP client")?;
    let resp = client
        .get(&args.url)
        .send()
        .await
        .with_context(|| format!("{} did not answer", args.url))?;
    if !resp.status().is_success() {
        bail!("{} answered {}", args.url, resp.status());
    }
    Ok(())
}
