//! What a bubblewrap session uses, read from `/proc` for the sandbox's whole process tree (the
//! supervisor reports the sandbox's first process as the host sees it): CPU time, resident
//! memory and storage I/O. No cgroup is needed, so it works for every user.

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use super::usage::Reading;

/// Reads the tree under `root` (the sandbox's first process, host pid).
pub fn read_tree(root: u32) -> io::Result<Reading> {
    read_trees(&[root])?
        .pop()
        .unwrap_or_else(|| Err(io::Error::other("no reading")))
}

/// Reads the trees under each of `roots` from one pass over `/proc`: the sampler reads every
/// running session each round, and listing every process once per session cost twenty times
/// the work with twenty sessions.
pub fn read_trees(roots: &[u32]) -> io::Result<Vec<io::Result<Reading>>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut ticks_of: HashMap<u32, u64> = HashMap::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end between the listing and the read: it then simply does not count.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((ppid, ticks)) = parse_stat(&stat) {
            children.entry(ppid).or_default().push(pid);
            ticks_of.insert(pid, ticks);
        }
    }
    let at = Instant::now();
    Ok(roots
        .iter()
        .map(|&root| tree_reading(root, &children, &ticks_of, at))
        .collect())
}

fn tree_reading(
    root: u32,
    children: &HashMap<u32, Vec<u32>>,
    ticks_of: &HashMap<u32, u64>,
    at: Instant,
) -> io::Result<Reading> {
    if !ticks_of.contains_key(&root) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the session's processes are gone",
        ));
    }
    // SAFETY: sysconf only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    // SAFETY: sysconf only reads a constant of the system.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut reading = Reading {
        cpu_seconds: 0.0,
        memory_bytes: 0,
        read_bytes: 0,
        write_bytes: 0,
        at,
    };
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        if let Some(ticks) = ticks_of.get(&pid) {
            reading.cpu_seconds += *ticks as f64 / ticks_per_second;
        }
        if let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) {
            let resident: u64 = statm
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            reading.memory_bytes += resident * page;
        }
        if let Ok(io) = std::fs::read_to_string(format!("/proc/{pid}/io")) {
            let (read, written) = parse_io(&io);
            reading.read_bytes += read;
            reading.write_bytes += written;
        }
        pending.extend(children.get(&pid).into_iter().flatten());
    }
    Ok(reading)
}

/// `(ppid, utime + stime)` from a `/proc/PID/stat` line. The command name sits in parentheses
/// and may hold spaces and parentheses itself, so fields are counted after its last `)`.
fn parse_stat(line: &str) -> Option<(u32, u64)> {
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `(read_bytes, write_bytes)` from `/proc/PID/io`: what reached storage, not every read or
/// write call (a pipe or a terminal counts in neither).
fn parse_io(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("read_bytes:"), field("write_bytes:"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stat_line_is_read_after_the_name_whatever_the_name_holds() {
        let line = "4242 (weird) name (x)) S 17 4242 4242 0 -1 4194304 100 0 0 0 250 30 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat(line), Some((17, 280)));
        assert_eq!(parse_stat("garbage"), None);
        let io = "rchar: 10\nwchar: 20\nread_bytes: 4096\nwrite_bytes: 8192\n";
        assert_eq!(parse_io(io), (4096, 8192));
    }

    #[test]
    fn this_process_tree_reads_and_a_busy_thread_shows_as_cpu() {
        let me = std::process::id();
        let before = read_tree(me).unwrap();
        assert!(before.memory_bytes > 0);
        let deadline = Instant::now() + super::super::usage::INTERVAL;
        let mut spins = 0u64;
        while Instant::now() < deadline {
            spins = spins.wrapping_add(1);
        }
        std::hint::black_box(spins);
        let after = read_tree(me).unwrap();
        let used = after.since(&before).cpu_percent;
        assert!(used > 10.0, "{used}");
        assert!(read_tree(u32::MAX).is_err());
    }
}
