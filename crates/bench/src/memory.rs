//! The server's resident memory under load, read from Linux's /proc.
//!
//! What it measures: with the in-process server, the bench's own process —
//! the server *and* the load generator (its clients, histograms, request
//! templates) and, for intake, the raw baseline's workers; so the figure is
//! an upper bound of the server's. With `--target`, the process
//! `--server-pid` names, or nothing. The peak is the kernel's high-water
//! mark (`VmHWM`), reset to the current RSS when the measurement starts by
//! writing `5` to `clear_refs` (Linux ≥ 4.0; where that is refused the peak
//! counts from the process's start, and the report says so).

use std::path::PathBuf;

use serde::Serialize;

/// Which process is watched.
#[derive(Debug, Clone)]
pub struct MemoryProbe {
    /// `/proc/self` or `/proc/<pid>`.
    dir: PathBuf,
    /// For the report: what the process holds.
    measures: String,
}

/// The state when the measurement started.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    rss_kib: u64,
    reset: bool,
}

/// Resident memory over one benchmark, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory {
    /// Which process, and what it holds besides the server.
    pub measures: String,
    /// Resident set when the measurement started (after set-up), MiB.
    pub rss_start_mib: f64,
    /// Highest resident set during the benchmark, MiB.
    pub peak_rss_mib: f64,
    /// Whether the peak counts from the start of the benchmark (else from
    /// the process's start: resetting it was refused).
    pub peak_since_start: bool,
}

impl MemoryProbe {
    /// The in-process server: this process.
    pub fn in_process() -> Self {
        Self {
            dir: PathBuf::from("/proc/self"),
            measures: "bench process (in-process server and load generator)".into(),
        }
    }

    /// A server running as process `pid`.
    pub fn server(pid: u32) -> Self {
        Self {
            dir: PathBuf::from(format!("/proc/{pid}")),
            measures: format!("server process {pid}"),
        }
    }

    /// Resets the peak and reads the resident set now; `None` without
    /// /proc.
    pub fn start(&self) -> Option<Start> {
        let reset = std::fs::write(self.dir.join("clear_refs"), "5").is_ok();
        let (rss_kib, _) = self.read()?;
        Some(Start { rss_kib, reset })
    }

    /// The report of a measurement begun with [`MemoryProbe::start`].
    pub fn finish(&self, start: Start) -> Option<Memory> {
        let (_, hwm_kib) = self.read()?;
        Some(Memory {
            measures: self.measures.clone(),
            rss_start_mib: mib(start.rss_kib),
            peak_rss_mib: mib(hwm_kib),
            peak_since_start: start.reset,
        })
    }

    /// `VmRSS` and `VmHWM`, KiB.
    fn read(&self) -> Option<(u64, u64)> {
        parse_status(&std::fs::read_to_string(self.dir.join("status")).ok()?)
    }
}

/// `VmRSS` and `VmHWM` (KiB) of a /proc status file.
fn parse_status(status: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

impl Memory {
    /// The report's line.
    pub fn render(&self) -> String {
        format!(
            "peak RSS {:.1} MiB{} (at start {:.1} MiB; {})\n",
            self.peak_rss_mib,
            if self.peak_since_start {
                ""
            } else {
                " since the process started"
            },
            self.rss_start_mib,
            self.measures
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_peak_from_a_status_file() {
        let status =
            "Name:\thotline\nVmPeak:\t 900000 kB\nVmHWM:\t   204800 kB\nVmRSS:\t   102400 kB\n";
        assert_eq!(parse_status(status), Some((102_400, 204_800)));
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_is_measured_and_its_peak_covers_what_it_touched() {
        let probe = MemoryProbe::in_process();
        let start = probe.start().expect("/proc/self/status");
        // 64 MiB touched page by page: the peak must rise by about that.
        let mut block = vec![0u8; 64 << 20];
        for i in (0..block.len()).step_by(4096) {
            block[i] = 1;
        }
        std::hint::black_box(&block);
        let memory = probe.finish(start).unwrap();
        drop(block);
        assert!(
            memory.peak_rss_mib >= memory.rss_start_mib + 60.0,
            "{memory:?}"
        );
        assert!(memory.render().contains("peak RSS"), "{}", memory.render());
    }
}
