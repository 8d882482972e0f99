//! A one-line progress bar on stderr: done / total, rate and time left.

use std::time::Duration;

/// Width of the bar in characters.
const WIDTH: usize = 30;

/// The line for `done` of `total` after `elapsed`.
pub fn render(done: u64, total: u64, elapsed: Duration) -> String {
    let total = total.max(1);
    let share = (done.min(total) as f64) / (total as f64);
    let filled = (share * WIDTH as f64).round() as usize;
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let left = if rate > 0.0 {
        format_duration(Duration::from_secs_f64(
            (total - done.min(total)) as f64 / rate,
        ))
    } else {
        "?".into()
    };
    format!(
        "[{}{}] {:>5.1} % {done}/{total} tickets, {rate:.0}/s, {left} left",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        share * 100.0,
    )
}

/// `1h02m`, `3m05s` or `42s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_share_done_and_estimates_the_rest() {
        let line = render(250, 1000, Duration::from_secs(5));
        assert_eq!(
            line,
            "[########......................]  25.0 % 250/1000 tickets, 50/s, 15s left"
        );
        assert!(
            render(1000, 1000, Duration::from_secs(20))
                .starts_with(&format!("[{}]", "#".repeat(30)))
        );
        assert!(render(0, 1000, Duration::ZERO).ends_with("0/s, ? left"));
    }

    #[test]
    fn durations_read_in_the_largest_units() {
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }
}
