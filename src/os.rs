//! What the operating system says about this process: CPU time and resident memory, from `/proc`.

/// Resident memory of this process (KiB), from /proc (0 where unavailable).
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// Largest resident memory of this process so far (KiB), from /proc (0 where unavailable).
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// Resident memory of process `pid` (KiB; `None` once it has gone).
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(kib_field(&status, "VmRSS:").unwrap_or(0))
}

/// A `kB` field of `/proc/self/status` (0 where unavailable).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    kib_field(&status, field).unwrap_or(0)
}

fn kib_field(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) of this process in seconds, from /proc (0 where unavailable).
pub fn cpu_seconds() -> f64 {
    cpu_ticks("/proc/self/stat").unwrap_or(0) as f64 / 100.0
}

/// CPU time (user + system) of process `pid` itself, in milliseconds: not its children's, so a wrapper such
/// as `sh` or `npm` is measured rather than the runtime it starts (`None` once it has exited, or where
/// /proc is not there).
pub fn cpu_ms_of(pid: u32) -> Option<u64> {
    cpu_ticks(&format!("/proc/{pid}/stat")).map(|ticks| ticks * 10)
}

/// utime + stime of a /proc stat file, in clock ticks (100 a second on Linux).
fn cpu_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    Some([11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum())
}

/// The hard limit on open files of one process (`None` where unavailable or unlimited): what a run raises
/// its own soft limit to.
pub fn open_files_hard_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(_, hard)| hard).filter(|hard| *hard != rlimit::INFINITY)
}

/// Memory a run may use (bytes): the least of the kernel's `MemAvailable`, this process's cgroup limit less
/// its usage, and the address-space limit (`None` where none of them is known).
pub fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| parse_mem_available(&text));
    let address_space =
        rlimit::getrlimit(rlimit::Resource::AS).ok().map(|(soft, _)| soft).filter(|soft| *soft != rlimit::INFINITY);
    [meminfo, cgroup_memory_left(), address_space].into_iter().flatten().min()
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    line.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kib| kib * 1024)
}

/// What this process's cgroup (v2) and its parents still allow: the least over them of `memory.max` less
/// what is in use, reclaimable page cache (`inactive_file`) not counted as used (`None` without a limit).
fn cgroup_memory_left() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = membership.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mut dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let mut least: Option<u64> = None;
    for _ in 0..32 {
        if let Some(left) = cgroup_level_left(&dir) {
            least = Some(least.map_or(left, |l| l.min(left)));
        }
        if !dir.pop() || !dir.starts_with("/sys/fs/cgroup") {
            break;
        }
    }
    least
}

/// One cgroup's memory left (`None` without a limit there).
fn cgroup_level_left(dir: &std::path::Path) -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let max = read("memory.max")?.trim().parse::<u64>().ok()?;
    let current = read("memory.current").and_then(|c| c.trim().parse::<u64>().ok()).unwrap_or(0);
    let reclaimable = read("memory.stat").and_then(|stat| stat_field(&stat, "inactive_file")).unwrap_or(0);
    Some(max.saturating_sub(current.saturating_sub(reclaimable)))
}

/// A field of a cgroup's `memory.stat` (`name value` lines).
fn stat_field(stat: &str, name: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Connection attempts the kernel's listen queues dropped so far in this network namespace (`ListenDrops`
/// of `/proc/net/netstat`, overflows of a full accept queue included; `None` where unavailable). A dropped
/// SYN is retried by the client's kernel a second later.
pub fn listen_drops() -> Option<u64> {
    parse_listen_drops(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// The kernel's cap on any listen backlog (`net.core.somaxconn`; `None` where unavailable).
pub fn somaxconn() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

/// `ListenDrops` from the text of `/proc/net/netstat`: a `TcpExt:` line of names, then one of values.
fn parse_listen_drops(netstat: &str) -> Option<u64> {
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenDrops")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_stat_field_is_read_by_name() {
        let stat = "anon 100\nfile 900\ninactive_file 700\nactive_file 200\n";
        assert_eq!(stat_field(stat, "inactive_file"), Some(700));
        assert_eq!(stat_field(stat, "file"), Some(900), "a prefix of another name is not it");
        assert_eq!(stat_field(stat, "shmem"), None);
    }

    #[test]
    fn mem_available_is_read_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_mem_available(text), Some(20_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn listen_drops_are_read_by_name() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPHPHits\nTcpExt: 0 7 9 1234\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(parse_listen_drops(text), Some(9));
        assert_eq!(parse_listen_drops("IpExt: A\nIpExt: 1\n"), None);
    }
}
