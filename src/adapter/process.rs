//! One adapter process: started from its command, spoken to through [`protocol`](super::protocol) on its
//! stdin and stdout, its stderr kept (the last lines, for the report of a failure). Whatever the process
//! does, crash, hang, write garbage or exit early, comes back as a [`ProcessEvent`] naming the process and
//! the line; nothing it does can stop the harness.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::mpsc;

use super::protocol::{self, Command, LineError, Report};

/// Lines of a process's stderr kept for the report of its failure.
pub const STDERR_KEPT: usize = 20;

/// The longest stderr line kept (a longer one is cut).
const STDERR_LINE: usize = 4096;

/// What a process said or did.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessEvent {
    /// A report, in order.
    Report(Report),
    /// A line that is not a report (the process keeps running; the line is counted against it).
    Garbage(LineError),
    /// Its stdout ended: the process exited (or closed it); the code when it exited with one.
    Ended {
        /// The exit code (`None`: killed by a signal, or still running with stdout closed).
        code: Option<i32>,
        /// The last lines of its stderr.
        stderr: Vec<String>,
    },
}

/// Why a process could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The command could not be run.
    #[error("could not start {process}: {source}")]
    Spawn {
        /// The command line.
        process: String,
        /// Why.
        source: std::io::Error,
    },
    /// It wrote something other than a `ready` report first, or exited first.
    #[error("{process} did not become ready: {problem}{}", stderr_note(.stderr))]
    NotReady {
        /// The command line and pid.
        process: String,
        /// What happened instead.
        problem: String,
        /// The last lines of its stderr.
        stderr: Vec<String>,
    },
    /// It said nothing within the limit.
    #[error("{process} did not answer \"init\" within {within:?}{}", stderr_note(.stderr))]
    Silent {
        /// The command line and pid.
        process: String,
        /// The limit.
        within: Duration,
        /// The last lines of its stderr.
        stderr: Vec<String>,
    },
}

fn stderr_note(stderr: &[String]) -> String {
    match stderr.last() {
        Some(last) => format!("; its stderr ended with: {last}"),
        None => String::new(),
    }
}

/// What the `ready` report said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The adapter's name and version.
    pub adapter: String,
    /// The implementations it can run.
    pub implementations: Vec<String>,
    /// Those that are migration layers (they take `migrate`).
    pub migrations: Vec<String>,
}

/// A running adapter process.
pub struct AdapterProcess {
    /// The command line and pid, as failures name it.
    pub name: String,
    child: Child,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<ProcessEvent>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Its end, taken off the channel while its exit status is awaited (until the deadline): kept here so
    /// that a caller whose `next()` is cancelled mid-wait (a `select!`) still gets it.
    ending: Option<(Vec<String>, tokio::time::Instant)>,
}

impl AdapterProcess {
    /// Starts `command` (program and arguments), sends `init` and waits up to `within` for its `ready`.
    pub async fn start(command: &[String], init: Command, within: Duration) -> Result<(Self, Ready), StartError> {
        Self::start_with(command, &std::collections::BTreeMap::new(), init, within).await
    }

    /// [`start`](Self::start) with environment variables added to the harness's own.
    pub async fn start_with(
        command: &[String],
        env: &std::collections::BTreeMap<String, String>,
        init: Command,
        within: Duration,
    ) -> Result<(Self, Ready), StartError> {
        let line = command.join(" ");
        let (program, args) = command.split_first().ok_or_else(|| StartError::Spawn {
            process: line.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "an empty command"),
        })?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so that killing it reaches what a wrapper (`sh -c`, `npm start`) started.
            .process_group(0)
            .spawn()
            .map_err(|source| StartError::Spawn { process: line.clone(), source })?;
        let name = format!("{line} (pid {})", child.id().unwrap_or_default());
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let (commands, events) = pipes(&mut child, &stderr);
        let mut process = AdapterProcess { name, child, commands, events, stderr, ending: None };
        process.send(init);
        let ready = process.ready(within).await?;
        Ok((process, ready))
    }

    async fn ready(&mut self, within: Duration) -> Result<Ready, StartError> {
        let first = tokio::time::timeout(within, self.events.recv()).await;
        let not_ready = |process: &Self, problem: String| StartError::NotReady {
            process: process.name.clone(),
            problem,
            stderr: process.stderr_tail(),
        };
        match first {
            Err(_) => Err(StartError::Silent { process: self.name.clone(), within, stderr: self.stderr_tail() }),
            Ok(Some(ProcessEvent::Report(report))) => match protocol::check_ready(&report, 1) {
                Ok(()) => match report {
                    Report::Ready { adapter, implementations, migrations, .. } => {
                        Ok(Ready { adapter, implementations, migrations })
                    }
                    _ => unreachable!("check_ready accepts only ready"),
                },
                Err(e) => Err(not_ready(self, e.to_string())),
            },
            Ok(Some(ProcessEvent::Garbage(e))) => Err(not_ready(self, e.to_string())),
            Ok(Some(ProcessEvent::Ended { stderr, .. })) => Err(StartError::NotReady {
                process: self.name.clone(),
                problem: format!("it exited first ({})", self.exit_words().await),
                stderr,
            }),
            Ok(None) => Err(not_ready(self, "its stdout closed".to_owned())),
        }
    }

    /// How the process exited: "code 3", "killed by a signal", or "still running".
    async fn exit_words(&mut self) -> String {
        match self.exit_status(tokio::time::Instant::now() + Duration::from_secs(1)).await {
            Some(status) => status.code().map_or_else(|| "killed by a signal".to_owned(), |c| format!("code {c}")),
            None => "still running".to_owned(),
        }
    }

    /// Its exit status, waited for until `deadline` (its stdout has closed, so it is exiting).
    async fn exit_status(&mut self, deadline: tokio::time::Instant) -> Option<std::process::ExitStatus> {
        tokio::time::timeout_at(deadline, self.child.wait()).await.ok()?.ok()
    }

    /// Queues a command for the process's stdin without waiting, so that a caller sending many commands
    /// before it reads cannot deadlock against a process that writes as it reads (what is queued is the
    /// harness's own commands, bounded by the run). A process whose stdin is gone is not an error here: its
    /// end is reported as an event.
    pub fn send(&self, command: Command) {
        if self.commands.send(command).is_err() {
            tracing::debug!("{}: stdin closed; command dropped", self.name);
        }
    }

    /// The next thing the process said or did; `None` after [`ProcessEvent::Ended`]. Cancel-safe: an end
    /// whose exit status was still awaited is returned by the next call (its status waited for a second
    /// at most in all).
    pub async fn next(&mut self) -> Option<ProcessEvent> {
        if self.ending.is_none() {
            match self.events.recv().await? {
                ProcessEvent::Ended { stderr, .. } => {
                    self.ending = Some((stderr, tokio::time::Instant::now() + Duration::from_secs(1)));
                }
                event => return Some(event),
            }
        }
        let deadline = self.ending.as_ref().map(|(_, d)| *d)?;
        let code = self.exit_status(deadline).await.and_then(|status| status.code());
        let (stderr, _) = self.ending.take()?;
        Some(ProcessEvent::Ended { code, stderr })
    }

    /// The last lines of its stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// Its CPU time so far, user and system, in ms (`None` once it has exited).
    pub fn cpu_ms(&self) -> Option<u64> {
        crate::os::cpu_ms_of(self.child.id()?)
    }

    /// Its resident memory, in KiB (`None` once it has exited).
    pub fn rss_kib(&self) -> Option<u64> {
        crate::os::rss_kib_of(self.child.id()?)
    }

    /// Kills it and everything it started (after a `stop` it did not answer).
    pub async fn kill(&mut self) {
        self.kill_group();
        if let Err(e) = self.child.kill().await {
            tracing::debug!("{}: kill failed: {e}", self.name);
        }
    }

    fn kill_group(&self) {
        if let Some(pid) = self.child.id() {
            let group = nix::unistd::Pid::from_raw(pid as i32);
            if let Err(e) = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL) {
                tracing::debug!("{}: could not kill its process group: {e}", self.name);
            }
        }
    }
}

impl Drop for AdapterProcess {
    fn drop(&mut self) {
        // A process that already exited has no id; one still running goes with its whole group.
        self.kill_group();
    }
}

/// Wires the child's pipes: a writer task for its stdin, a reader task for its stdout, one for its stderr.
fn pipes(
    child: &mut Child,
    stderr: &Arc<Mutex<VecDeque<String>>>,
) -> (mpsc::UnboundedSender<Command>, mpsc::Receiver<ProcessEvent>) {
    let (commands, to_write) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::channel(1024);
    if let Some(stdin) = child.stdin.take() {
        tokio::spawn(write_commands(stdin, to_write));
    }
    let stderr_done = child.stderr.take().map(|err| tokio::spawn(keep_stderr(err, stderr.clone())));
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(read_reports(stdout, events_tx, stderr.clone(), stderr_done));
    }
    (commands, events)
}

async fn write_commands(mut stdin: ChildStdin, mut commands: mpsc::UnboundedReceiver<Command>) {
    while let Some(command) = commands.recv().await {
        if stdin.write_all(protocol::encode(&command).as_bytes()).await.is_err() {
            return;
        }
        if commands.is_empty() && stdin.flush().await.is_err() {
            return;
        }
    }
}

async fn read_reports(
    stdout: ChildStdout,
    events: mpsc::Sender<ProcessEvent>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_done: Option<tokio::task::JoinHandle<()>>,
) {
    let mut reader = BufReader::new(stdout);
    let mut number = 0u64;
    let mut buffer = Vec::new();
    while let Ok(Some(line)) = next_line(&mut reader, &mut buffer, protocol::MAX_LINE).await {
        number += 1;
        let event = match line {
            Line::Complete => match std::str::from_utf8(&buffer) {
                Ok(text) => match protocol::parse(text.trim_end_matches('\r'), number) {
                    Ok(report) => ProcessEvent::Report(report),
                    Err(e) => ProcessEvent::Garbage(e),
                },
                Err(_) => ProcessEvent::Garbage(LineError::Garbage { line: number, problem: "not UTF-8".into() }),
            },
            Line::TooLong => ProcessEvent::Garbage(LineError::TooLong { line: number }),
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
    if let Some(done) = stderr_done {
        // Bounded: stderr closes when the process exits, which is what ended stdout (almost always).
        if tokio::time::timeout(Duration::from_secs(1), done).await.is_err() {
            tracing::debug!("the adapter's stderr stayed open after its stdout closed");
        }
    }
    let tail = stderr.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
    if events.send(ProcessEvent::Ended { code: None, stderr: tail }).await.is_err() {
        tracing::debug!("nobody is reading the adapter's events any more");
    }
}

/// How a line read ended.
enum Line {
    /// Its bytes are in the buffer, without the newline.
    Complete,
    /// It was longer than the limit: what was read of it is dropped, and the rest of it skipped.
    TooLong,
}

/// Reads the next line into `buffer` (cleared first), keeping at most `max` bytes of it: memory stays
/// bounded whatever the process writes. `None` at the end of the stream.
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<Line>> {
    buffer.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            // The end: a last line without its newline still counts.
            return Ok(match (too_long, buffer.is_empty()) {
                (true, _) => Some(Line::TooLong),
                (false, true) => None,
                (false, false) => Some(Line::Complete),
            });
        }
        let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..at], Some(at)),
            None => (available, None),
        };
        if !too_long && buffer.len() + chunk.len() <= max {
            buffer.extend_from_slice(chunk);
        } else {
            too_long = true;
            buffer.clear();
        }
        let used = found.map_or(chunk.len(), |at| at + 1);
        reader.consume(used);
        if found.is_some() {
            return Ok(Some(if too_long { Line::TooLong } else { Line::Complete }));
        }
    }
}

async fn keep_stderr(stderr: ChildStderr, kept: Arc<Mutex<VecDeque<String>>>) {
    let mut reader = BufReader::new(stderr);
    let mut buffer = Vec::new();
    while let Ok(Some(line)) = next_line(&mut reader, &mut buffer, STDERR_LINE).await {
        let text = match line {
            Line::Complete => String::from_utf8_lossy(&buffer).into_owned(),
            Line::TooLong => format!("(a line longer than {STDERR_LINE} bytes)"),
        };
        tracing::debug!("adapter stderr: {text}");
        let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == STDERR_KEPT {
            kept.pop_front();
        }
        kept.push_back(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Option<String>> {
        let mut reader = BufReader::with_capacity(8, input);
        let mut buffer = Vec::new();
        let mut out = Vec::new();
        for _ in 0..100 {
            match next_line(&mut reader, &mut buffer, max).await.unwrap() {
                Some(Line::Complete) => out.push(Some(String::from_utf8_lossy(&buffer).into_owned())),
                Some(Line::TooLong) => out.push(None),
                None => return out,
            }
        }
        panic!("no end");
    }

    #[tokio::test]
    async fn lines_are_cut_at_the_limit_and_reading_goes_on_after_them() {
        let input = b"short\nthis one is far too long for ten\nnext\n\nlast without newline";
        let got = lines(input, 10).await;
        assert_eq!(
            got,
            [Some("short".into()), None, Some("next".into()), Some(String::new()), None],
            "the unterminated last line is 20 bytes, over the limit too"
        );
        let got = lines(b"a\xff\nb", 10).await;
        assert_eq!(got, [Some("a\u{fffd}".into()), Some("b".into())], "bytes, not text: invalid UTF-8 is a line");
    }
}
