//! Shared plumbing of the benchmarks: the mock run as a separate `wschaos mock` process (so its memory and
//! CPU are its own), clients connecting from distinct loopback source addresses, and reading a payload's
//! event time.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A `wschaos mock` child process.
pub struct MockProcess {
    pub child: Child,
    pub addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
}

impl MockProcess {
    /// Starts `wschaos mock` with a configuration (TOML text) and extra arguments; waits for its URL.
    pub fn start(config_toml: &str, extra: &[&str]) -> MockProcess {
        let config = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-mock-{}.toml", std::process::id()));
        std::fs::File::create(&config)
            .and_then(|mut f| f.write_all(config_toml.as_bytes()))
            .expect("write bench config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wschaos"))
            .args(["mock", "--listen", "127.0.0.1:0", "--stats-on-exit", "--config"])
            .arg(&config)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start wschaos mock");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("banner");
        let url = line.split_whitespace().find(|w| w.starts_with("ws://")).expect("URL in the banner");
        let addr = url.trim_start_matches("ws://").parse().expect("address");
        MockProcess { child, addr, stdout }
    }

    /// Resident memory of the mock process in KiB.
    pub fn rss_kib(&self) -> u64 {
        wschaos::os::rss_kib_of(self.child.id()).unwrap_or(0)
    }

    /// CPU time (user + system) the mock process has used, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<f64>().ok()).sum();
        ticks / 100.0
    }

    /// Stops the mock with SIGINT and returns the counters it prints on exit.
    pub fn stop(mut self) -> serde_json::Value {
        Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().expect("kill");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("stats");
        self.child.wait().expect("mock exits");
        rest.find('{').and_then(|i| serde_json::from_str(&rest[i..]).ok()).unwrap_or(serde_json::Value::Null)
    }
}

/// The n-th client source address: 127.<1+n/65025>.<n/255%255>.<1+n%255>, never 127.0.0.1.
pub fn source_ip(n: usize) -> IpAddr {
    let n = n as u32;
    IpAddr::V4(Ipv4Addr::new(127, (1 + n / 65_025) as u8, ((n / 255) % 255) as u8, (1 + n % 255) as u8))
}

/// Raises this process's open-file limit to the hard limit.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// Parses a `--name value` argument of `cargo bench -- --name value`, or the default.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes a benchmark's figures to `reports/bench/<name>.json` (generated output, not committed).
pub fn write_report(name: &str, figures: &serde_json::Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/bench");
    let path = dir.join(format!("{name}.json"));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(figures).unwrap_or_default()));
    match written {
        Ok(()) => println!("  figures written to {}", path.display()),
        Err(e) => eprintln!("  could not write {}: {e}", path.display()),
    }
}

/// The `"E":<digits>` value of a payload, found without parsing the whole message.
pub fn event_time(text: &str) -> Option<u64> {
    let at = text.find("\"E\":")? + 4;
    let digits: &str = &text[at..at + text[at..].find(|c: char| !c.is_ascii_digit())?];
    digits.parse().ok()
}
