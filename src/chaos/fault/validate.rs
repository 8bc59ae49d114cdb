//! Validating a raw fault: which keys each kind takes, the defaults, and every problem with its key path.

use std::time::Duration;

use super::model::{Fault, Timing};
use super::raw::{DisconnectHow, RawFault, RefuseMode};
use crate::config_file::{HumanDuration, KeyIssue, Switch};
use crate::mock::close::{CloseHow, is_sendable_close_code};
use crate::mock::config::Rate;
use crate::mock::faults::kind::{MAX_FRAGMENTS, MAX_OVERSIZE};
use crate::mock::faults::select::{Cidr, Pattern, Selection};
use crate::mock::faults::{FaultKind, FaultKindName, Refuse, StallMode};

/// The keys every kind accepts.
const COMMON_KEYS: &[&str] = &["kind", "name", "at", "every", "step"];

/// The keys each kind accepts besides the common ones.
fn kind_keys(kind: FaultKindName) -> &'static [&'static str] {
    use FaultKindName::*;
    match kind {
        Disconnect => &["share", "streams", "symbols", "sources", "how", "code", "reason", "stagger"],
        Outage => &["duration", "how", "code", "reason", "notice", "notice-lead", "refuse", "status", "retry-after"],
        RejectHandshakes => &["duration", "sources", "status", "retry-after", "probability", "ban-after", "ban"],
        SlowHandshake => &["duration", "sources", "delay", "jitter", "hang", "probability"],
        Stall => &["duration", "share", "streams", "symbols", "sources", "mode"],
        Latency => &["duration", "share", "streams", "symbols", "sources", "delay", "jitter"],
        Burst => &["duration", "symbols", "factor"],
        DropMessages | DuplicateMessages | ReorderMessages => {
            &["duration", "share", "streams", "symbols", "sources", "probability"]
        }
        DepthGap => &["duration", "symbols", "probability"],
        Corrupt => &["share", "streams", "symbols", "sources", "variant", "count", "size", "fragments"],
        MaxLifetime => &["duration", "share", "streams", "symbols", "sources", "age"],
        ConnectLimit => &["duration", "limit"],
    }
}

/// The keys set in a raw fault, by their file names (read from its serde form, so it cannot drift).
fn set_keys(raw: &RawFault) -> Vec<String> {
    match serde_json::to_value(raw) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k).collect(),
        _ => Vec::new(),
    }
}

/// Which kinds accept `key`, for the message that rejects it.
fn kinds_accepting(key: &str) -> Vec<&'static str> {
    FaultKindName::ALL.iter().filter(|k| kind_keys(**k).contains(&key)).map(|k| k.as_str()).collect()
}

/// Validation context: the key-path prefix (`faults[2]`) and the collected problems.
struct Check<'a> {
    prefix: &'a str,
    issues: Vec<KeyIssue>,
}

impl Check<'_> {
    fn issue(&mut self, key: &str, message: impl Into<String>) {
        self.issues.push(KeyIssue::new(format!("{}.{key}", self.prefix), message));
    }

    fn probability(&mut self, key: &str, value: Option<f64>, default: f64) -> f64 {
        let v = value.unwrap_or(default);
        if !(0.0..=1.0).contains(&v) {
            self.issue(key, format!("{v} is not a probability; use a number from 0 to 1"));
        }
        v
    }

    fn positive(&mut self, key: &str, value: Option<HumanDuration>) -> Option<Duration> {
        let d = value.map(|d| d.0);
        if d.is_some_and(|d| d.is_zero()) {
            self.issue(key, "must be longer than zero");
        }
        d
    }

    fn required<T>(&mut self, key: &str, value: Option<T>, example: &str) -> Option<T> {
        if value.is_none() {
            self.issue(key, format!("is required for this kind; e.g. {key} = {example}"));
        }
        value
    }

    fn status(&mut self, value: Option<u16>, default: u16) -> u16 {
        let status = value.unwrap_or(default);
        if !(400..=599).contains(&status) {
            self.issue(
                "status",
                format!("{status} is not an HTTP error status; use 4xx or 5xx such as 429, 418, 503, 403"),
            );
        }
        status
    }
}

impl Fault {
    /// Validates one raw fault; `prefix` is its key path (`faults[2]`) for messages.
    pub fn from_raw(raw: &RawFault, prefix: &str) -> Result<Fault, Vec<KeyIssue>> {
        let mut check = Check { prefix, issues: Vec::new() };
        if raw.step.is_some() {
            check.issue("step", "places a fault in a rehearsal step; it belongs to a scenario with [rollout] steps");
        }
        let Some(kind_name) = raw.kind else {
            let kinds: Vec<&str> = FaultKindName::ALL.iter().map(|k| k.as_str()).collect();
            check.issue("kind", format!("is required; one of {}", kinds.join(", ")));
            return Err(check.issues);
        };
        for key in set_keys(raw) {
            let key = key.as_str();
            if !COMMON_KEYS.contains(&key) && !kind_keys(kind_name).contains(&key) {
                let accepted = kinds_accepting(key);
                check.issue(
                    key,
                    format!(
                        "does not apply to kind \"{}\"; it is a key of {}",
                        kind_name.as_str(),
                        accepted.join(", ")
                    ),
                );
            }
        }
        let timing = timing(raw, kind_name, &mut check);
        let select = selection(raw, &mut check);
        let kind = kind(raw, kind_name, &mut check);
        match kind {
            Some(kind) if check.issues.is_empty() => Ok(Fault { name: raw.name.clone(), timing, select, kind }),
            _ => Err(check.issues),
        }
    }

    /// The end of its window relative to its start, for kinds with a window.
    pub fn window(&self) -> Option<Duration> {
        match &self.kind {
            FaultKind::Disconnect { stagger, .. } => Some(*stagger),
            FaultKind::Corrupt { .. } => Some(Duration::ZERO),
            _ => self.timing.duration,
        }
    }
}

fn timing(raw: &RawFault, kind: FaultKindName, check: &mut Check<'_>) -> Timing {
    let at = raw.at.map_or(Duration::ZERO, |d| d.0);
    let duration = check.positive("duration", raw.duration);
    let every = check.positive("every", raw.every);
    let window = match kind {
        FaultKindName::Disconnect => raw.stagger.map(|d| d.0),
        _ => duration,
    };
    if let (Some(every), Some(window)) = (every, window) {
        if every <= window {
            check.issue(
                "every",
                format!("repeats every {every:?} but each occurrence lasts {window:?}; make `every` longer"),
            );
        }
    }
    Timing { at, duration, every }
}

fn selection(raw: &RawFault, check: &mut Check<'_>) -> Selection {
    let share = check.probability("share", raw.share, 1.0);
    let patterns = |list: &Option<Vec<String>>| list.iter().flatten().map(Pattern::new).collect();
    let mut sources = Vec::new();
    for (i, text) in raw.sources.iter().flatten().enumerate() {
        match Cidr::parse(text) {
            Some(cidr) => sources.push(cidr),
            None => check.issue(
                &format!("sources[{i}]"),
                format!("{text:?} is not an address or block such as \"127.0.1.0/24\""),
            ),
        }
    }
    Selection { share, streams: patterns(&raw.streams), symbols: patterns(&raw.symbols), sources }
}

fn close_how(raw: &RawFault, default_code: u16, default_reason: &str, check: &mut Check<'_>) -> CloseHow {
    match raw.how.unwrap_or(DisconnectHow::Close) {
        DisconnectHow::Fin => CloseHow::Fin,
        DisconnectHow::Reset => CloseHow::Reset,
        DisconnectHow::Close => {
            let code = raw.code.unwrap_or(default_code);
            if !is_sendable_close_code(code) {
                check.issue("code", format!("{code} cannot be sent in a close frame; use how = \"fin\" for the 1006 a client sees on a dropped connection, or a code in 1000-1003, 1007-1014, 3000-4999"));
            }
            let reason = raw.reason.clone().unwrap_or_else(|| default_reason.to_owned());
            if reason.len() > 123 {
                check.issue("reason", "must be at most 123 bytes (a close frame's limit)");
            }
            CloseHow::Frame { code, reason }
        }
    }
}

fn retry_after(raw: &RawFault) -> Option<u64> {
    raw.retry_after.map(|d| d.0.as_secs().max(1))
}

/// The status of a reject-handshakes fault (429 by default); a ban escalates only 429s, as Binance bans
/// (418) an IP that keeps connecting after its 429s, not after other refusals.
fn reject_status(raw: &RawFault, check: &mut Check<'_>) -> u16 {
    let status = check.status(raw.status, 429);
    if raw.ban_after.is_some() && status != 429 {
        check.issue("ban-after", format!("bans after 429s; status is {status}: drop ban-after, or use status = 429"));
    }
    status
}

fn kind(raw: &RawFault, name: FaultKindName, check: &mut Check<'_>) -> Option<FaultKind> {
    use FaultKindName as N;
    Some(match name {
        N::Disconnect => FaultKind::Disconnect {
            how: close_how(raw, 1001, "", check),
            stagger: raw.stagger.map_or(Duration::ZERO, |d| d.0),
        },
        N::Outage => outage(raw, check),
        N::RejectHandshakes => FaultKind::RejectHandshakes {
            status: reject_status(raw, check),
            retry_after: retry_after(raw),
            probability: check.probability("probability", raw.probability, 1.0),
            ban_after: raw.ban_after,
            ban: raw.ban.map_or(Duration::from_secs(120), |d| d.0),
        },
        N::SlowHandshake => {
            let hang = raw.hang.unwrap_or(false);
            if !hang && raw.delay.is_none() {
                check.issue("delay", "is required unless hang = true; e.g. delay = \"5s\"");
            }
            FaultKind::SlowHandshake {
                delay: raw.delay.map_or(Duration::ZERO, |d| d.0),
                jitter: raw.jitter.map_or(Duration::ZERO, |d| d.0),
                hang,
                probability: check.probability("probability", raw.probability, 1.0),
            }
        }
        N::Stall => FaultKind::Stall { mode: raw.mode.unwrap_or(StallMode::Silent) },
        N::Latency => FaultKind::Latency {
            delay: check.required("delay", raw.delay, "\"200ms\"")?.0,
            jitter: raw.jitter.map_or(Duration::ZERO, |d| d.0),
        },
        N::Burst => {
            let factor = check.required("factor", raw.factor, "10.0")?;
            if !(factor.is_finite() && factor > 0.0) {
                check.issue("factor", "must be a positive multiplier such as 10.0");
            }
            FaultKind::Burst { factor }
        }
        N::DropMessages => {
            FaultKind::DropMessages { probability: check.probability("probability", raw.probability, 0.1) }
        }
        N::DuplicateMessages => {
            FaultKind::DuplicateMessages { probability: check.probability("probability", raw.probability, 0.1) }
        }
        N::ReorderMessages => {
            FaultKind::ReorderMessages { probability: check.probability("probability", raw.probability, 0.1) }
        }
        N::DepthGap => FaultKind::DepthGap { probability: check.probability("probability", raw.probability, 1.0) },
        N::Corrupt => corrupt(raw, check)?,
        N::MaxLifetime => {
            let age = check.positive("age", raw.age);
            FaultKind::MaxLifetime { age: check.required("age", age, "\"60s\"")? }
        }
        N::ConnectLimit => FaultKind::ConnectLimit { limit: connect_limit(raw, check)? },
    })
}

fn outage(raw: &RawFault, check: &mut Check<'_>) -> FaultKind {
    let refuse = match raw.refuse.unwrap_or(RefuseMode::Http) {
        RefuseMode::Http => Refuse::Http { status: check.status(raw.status, 503), retry_after: retry_after(raw) },
        RefuseMode::Tcp => Refuse::Tcp,
    };
    FaultKind::Outage {
        notice: raw.notice.unwrap_or(true),
        notice_lead: raw.notice_lead.map_or(Duration::ZERO, |d| d.0),
        how: close_how(raw, 1012, "Service restart", check),
        refuse,
    }
}

fn corrupt(raw: &RawFault, check: &mut Check<'_>) -> Option<FaultKind> {
    let variant = check.required("variant", raw.variant, "\"malformed-json\"")?;
    let fragments = raw.fragments.unwrap_or(3);
    if !(2..=MAX_FRAGMENTS).contains(&fragments) {
        check.issue("fragments", format!("must be from 2 to {MAX_FRAGMENTS}"));
    }
    let size = raw.size.unwrap_or(17 * 1024 * 1024);
    if size > MAX_OVERSIZE {
        check.issue("size", format!("must be at most {MAX_OVERSIZE} bytes (64 MiB)"));
    }
    Some(FaultKind::Corrupt { variant, count: raw.count.unwrap_or(1).max(1), size, fragments })
}

fn connect_limit(raw: &RawFault, check: &mut Check<'_>) -> Option<Option<Rate>> {
    match check.required("limit", raw.limit, "{ max = 10, window = \"1m\" }")? {
        Switch::Off => Some(None),
        Switch::On(rate) => {
            if rate.max == 0 || rate.window.0.is_zero() {
                check.issue("limit", "needs max >= 1 and a window longer than zero, or \"off\"");
            }
            Some(Some(Rate { max: rate.max, window: rate.window.0 }))
        }
    }
}

/// Validates a list of faults (`faults[i]`), collecting every problem.
pub fn validate_all(raws: &[RawFault], key: &str) -> Result<Vec<Fault>, Vec<KeyIssue>> {
    let mut faults = Vec::new();
    let mut issues = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        match Fault::from_raw(raw, &format!("{key}[{i}]")) {
            Ok(f) => faults.push(f),
            Err(mut e) => issues.append(&mut e),
        }
    }
    if issues.is_empty() { Ok(faults) } else { Err(issues) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn parse(text: &str) -> Result<Vec<Fault>, Vec<KeyIssue>> {
        #[derive(Deserialize)]
        struct File {
            faults: Vec<RawFault>,
        }
        let file: File = toml::from_str(text).unwrap();
        validate_all(&file.faults, "faults")
    }

    #[test]
    fn a_full_catalogue_validates() {
        let faults = parse(
            r#"
            [[faults]]
            kind = "disconnect"
            at = "30s"
            share = 0.5
            how = "close"
            code = 1012
            stagger = "5s"
            [[faults]]
            kind = "outage"
            at = "1m"
            duration = "10s"
            refuse = "tcp"
            [[faults]]
            kind = "reject-handshakes"
            status = 429
            retry-after = "30s"
            ban-after = 3
            duration = "1m"
            [[faults]]
            kind = "connect-limit"
            limit = { max = 10, window = "1m" }
            [[faults]]
            kind = "connect-limit"
            limit = "off"
            at = "2m"
            "#,
        )
        .unwrap();
        assert_eq!(faults.len(), 5);
        assert_eq!(
            faults[0].kind,
            FaultKind::Disconnect { how: CloseHow::frame(1012, ""), stagger: Duration::from_secs(5) }
        );
        assert_eq!(faults[0].select.share, 0.5);
        assert!(matches!(faults[1].kind, FaultKind::Outage { refuse: Refuse::Tcp, notice: true, .. }));
        assert!(matches!(faults[4].kind, FaultKind::ConnectLimit { limit: None }));
    }

    #[test]
    fn every_problem_is_reported_with_its_key_path() {
        let issues = parse(
            r#"
            [[faults]]
            kind = "stall"
            code = 1001
            share = 1.5
            [[faults]]
            kind = "latency"
            [[faults]]
            kind = "disconnect"
            code = 1006
            sources = ["nowhere"]
            [[faults]]
            kind = "burst"
            factor = 2.0
            duration = "10s"
            every = "5s"
            [[faults]]
            at = "1s"
            "#,
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "faults[0].code",
                "faults[0].share",
                "faults[1].delay",
                "faults[2].sources[0]",
                "faults[2].code",
                "faults[3].every",
                "faults[4].kind"
            ]
        );
        assert!(issues[0].message.contains("does not apply to kind \"stall\"; it is a key of disconnect, outage"));
        assert!(issues[4].message.contains("how = \"fin\""));
    }

    #[test]
    fn a_ban_escalates_only_429s() {
        let issues = parse("[[faults]]\nkind = \"reject-handshakes\"\nstatus = 503\nban-after = 2\n").unwrap_err();
        assert_eq!(issues[0].key, "faults[0].ban-after");
        assert!(issues[0].message.contains("status is 503: drop ban-after, or use status = 429"), "{issues:?}");
        assert!(parse("[[faults]]\nkind = \"reject-handshakes\"\nban-after = 2\n").is_ok(), "429 by default");
    }

    #[test]
    fn every_kind_has_keys_and_a_name() {
        for kind in FaultKindName::ALL {
            assert!(!kind_keys(kind).is_empty());
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        let every_key = serde_json::to_value(RawFault::default()).unwrap();
        for key in every_key.as_object().unwrap().keys() {
            assert!(
                COMMON_KEYS.contains(&key.as_str()) || !kinds_accepting(key).is_empty(),
                "{key} belongs to no kind"
            );
        }
    }
}
