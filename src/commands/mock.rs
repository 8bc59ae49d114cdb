//! `wschaos mock`: serve the mock upstream until Ctrl-C, printing where to point a client.

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::chaos::control::ControlServer;
use crate::cli::MockArgs;
use crate::commands::process::{Outcome, StopSignals, UsageError};
use crate::config_file::{ConfigIssues, SourceFile};
use crate::mock::{MockConfig, MockServer, RawMockConfig};

/// Loads and validates a mock configuration file; every problem is reported at once.
pub fn load_config(path: Option<&std::path::Path>) -> Result<MockConfig, UsageError> {
    let Some(path) = path else {
        return Ok(MockConfig::default());
    };
    load_file(path).map_err(|e| UsageError(e.to_string()))
}

/// Loads and validates a mock configuration file, with every problem in it.
pub fn load_file(path: &std::path::Path) -> Result<MockConfig, ConfigIssues> {
    SourceFile::read(path)?.load_with(|raw: &RawMockConfig, _| MockConfig::from_raw(raw))
}

/// Runs the mock until Ctrl-C.
pub async fn run(args: MockArgs) -> Result<Outcome> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(UsageError(format!(
            "--listen {} is not a loopback address; the mock is a test upstream: use 127.0.0.1 (or pass --allow-remote)",
            args.listen
        ))
        .into());
    }
    let (config, seed) = match &args.scenario {
        Some(path) => {
            let scenario = crate::scenario::load(path).map_err(|e| UsageError(e.to_string()))?;
            (scenario.mock, scenario.seed)
        }
        None => (load_config(args.config.as_deref())?, args.seed),
    };
    let mut stop = StopSignals::register().context("could not listen for Ctrl-C and SIGTERM")?;
    let cancel = CancellationToken::new();
    let server = MockServer::start(config, args.listen, seed, cancel.clone()).await?;
    if args.record_publications {
        server.publications().enable_log();
    }
    let url = server.url();
    println!("wschaos mock: Binance spot market streams on {url} (seed {seed})");
    println!("  raw:      {url}/ws/btcusdt@trade");
    println!("  combined: {url}/stream?streams=btcusdt@trade/ethusdt@depth@100ms");
    println!("  REST:     http://{}/api/v3/depth?symbol=BTCUSDT&limit=5", server.local_addr());
    if let Some(addr) = args.control {
        let control = ControlServer::start(addr, args.control_token.clone(), server.clone())
            .await
            .map_err(|e| UsageError(e.to_string()))?;
        let base = format!("http://{}", control.local_addr());
        println!("  control:  {base}/faults  (metrics: {base}/metrics, stats: {base}/stats)");
        println!(
            "  e.g.      curl -X POST {base}/faults -d '{{\"kind\":\"disconnect\",\"how\":\"fin\",\"share\":0.5}}'"
        );
    }
    println!("Ctrl-C (or SIGTERM) stops it.");
    stop.recv().await;
    eprintln!("wschaos mock: stopping (closing connections with 1001)");
    let snapshot = server.shutdown().await;
    if args.stats_on_exit {
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
    }
    Ok(Outcome::Success)
}
