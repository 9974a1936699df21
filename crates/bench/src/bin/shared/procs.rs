//! Helpers shared by the benchmark binaries: start a `switchyard` process and read its
//! address, and read a process's CPU time and memory from `/proc`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Spawn `bin args…` and wait for the stdout line that starts with `marker`; return the
/// child and the URL that follows the marker.
pub(crate) async fn spawn_until(
    bin: &Path,
    args: &[&str],
    marker: &str,
) -> Result<(Child, String)> {
    let mut child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(marker) {
                return Ok::<_, anyhow::Error>(rest.trim().to_string());
            }
        }
        bail!("{} exited before printing '{marker}'", bin.display())
    })
    .await
    .context("timed out waiting for start-up")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

/// CPU time (user + system) a process has used so far, in seconds.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, i.e. indices 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

pub(crate) fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A command-line number of seconds (fractions allowed) as a duration; an error names
/// `flag` when it is not a positive number a duration can hold.
pub(crate) fn seconds(value: &str, flag: &str) -> Result<Duration> {
    let secs: f64 = value
        .parse()
        .with_context(|| format!("{flag} '{value}' is not a number of seconds"))?;
    if secs <= 0.0 {
        bail!("{flag} must be above 0 seconds");
    }
    Duration::try_from_secs_f64(secs).with_context(|| format!("{flag} '{value}' is too long"))
}

/// Whether the command line asks for help (`-h`, `--help`); if so, `usage` is printed.
pub(crate) fn help(usage: &str) -> bool {
    let asked = std::env::args().skip(1).any(|a| a == "-h" || a == "--help");
    if asked {
        println!("{usage}");
    }
    asked
}
