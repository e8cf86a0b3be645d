//! Numbers as the driver prints them: one place for every format of a count, a byte
//! size, a ratio, a share or a time, so that a table, a chart, a heap map and a message
//! that quote one number spell it the same way.
//!
//! Two families:
//!
//! * **fixed precision**, for tables whose columns line up and whose saved copies in
//!   `docs/` are compared digit for digit: [`utilization`] (3 decimals), [`kops`] (none),
//!   [`ratio`] (2 decimals and an `x`), [`index`] (1 decimal), [`percent`] (1 decimal
//!   and a `%`), and [`decimals`] for any other; [`or_dash`] shows a missing value as `-`;
//! * **short**, for chart labels and messages, where a glance matters more than the
//!   last digit: [`count`] ("8k", "1M": binary multiples, as the live-set sizes are),
//!   [`bytes`] ("1.5 KiB"), [`short`] (two significant digits and an SI suffix),
//!   [`short_ratio`] ("3.4x") and [`seconds`] ("2 s").

use std::time::Duration;

/// The text of a missing value in a table.
pub const MISSING: &str = "-";

/// `value` with `places` decimals: `decimals(0.12345, 3)` is "0.123".
pub fn decimals(value: f64, places: usize) -> String {
    format!("{value:.places$}")
}

/// `value` formatted by `format`, or [`MISSING`] when there is none.
pub fn or_dash<T>(value: Option<T>, format: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| MISSING.to_owned(), format)
}

/// A utilization (or its bound): three decimals, "0.912".
pub fn utilization(u: f64) -> String {
    decimals(u, 3)
}

/// Thousands of operations per second: whole, "34059".
pub fn kops(k: f64) -> String {
    decimals(k, 0)
}

/// A ratio (a throughput over libc's): two decimals and an `x`, "1.25x".
pub fn ratio(r: f64) -> String {
    format!("{}x", decimals(r, 2))
}

/// The performance index: one decimal, "87.3".
pub fn index(p: f64) -> String {
    decimals(p, 1)
}

/// A share in percent: one decimal and a `%`, "12.5%".
pub fn percent(share: f64) -> String {
    format!("{}%", decimals(share, 1))
}

/// `value` with one decimal, or none when it is within 0.05 of a whole number, then
/// `unit`: the body of [`count`] and [`bytes`].
fn round_or_one_decimal(value: f64, unit: &str) -> String {
    if (value - value.round()).abs() < 0.05 {
        format!("{value:.0}{unit}")
    } else {
        format!("{value:.1}{unit}")
    }
}

/// A count in binary multiples, `1024` as "1k", `1048576` as "1M": the live-set sizes
/// of the cost-growth chart and its messages (they are powers of two).
pub fn count(n: f64) -> String {
    let (value, unit) = if n >= 1e9 {
        (n / f64::from(1u32 << 30), "G")
    } else if n >= 1e6 {
        (n / f64::from(1u32 << 20), "M")
    } else if n >= 1e3 {
        (n / 1024.0, "k")
    } else {
        (n, "")
    };
    round_or_one_decimal(value, unit)
}

/// A byte count in binary units: "20 MiB", "1.5 KiB", "96 B".
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024.0 {
        return format!("{n:.0} B");
    }
    let mut value = n;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    round_or_one_decimal(value, &format!(" {unit}"))
}

/// A positive number in two significant digits and SI units: "0.02", "1.5", "120",
/// "3.4M" (and "0" for anything not positive).
pub fn short(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return "0".to_owned();
    }
    let (value, unit) = match v {
        v if v >= 1e9 => (v / 1e9, "G"),
        v if v >= 1e6 => (v / 1e6, "M"),
        // From 10k on: below it, four digits ("2500") read better than "2.5k".
        v if v >= 1e4 => (v / 1e3, "k"),
        v => (v, ""),
    };
    // Two significant digits: one decimal from 1 to 10, two below 1, none from 10 up.
    let digits = (1 - value.log10().floor() as i32).max(0) as usize;
    let text = decimals(value, digits);
    let text =
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{unit}")
}

/// A ratio in [`short`] form and an `x`: "3.4x", "0.02x".
pub fn short_ratio(r: f64) -> String {
    format!("{}x", short(r))
}

/// A duration in seconds, whole when it is: "2 s", "0.5 s".
pub fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 { format!("{secs:.0} s") } else { format!("{secs} s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_numbers_have_fixed_decimals() {
        assert_eq!(utilization(0.91249), "0.912");
        assert_eq!(kops(34059.4), "34059");
        assert_eq!(ratio(1.254), "1.25x");
        assert_eq!(index(87.26), "87.3");
        assert_eq!(percent(12.46), "12.5%");
        assert_eq!(decimals(0.0000125, 6), "0.000013");
        assert_eq!(or_dash(None::<f64>, utilization), "-");
        assert_eq!(or_dash(Some(0.5), utilization), "0.500");
    }

    #[test]
    fn numbers_read_short() {
        assert_eq!(short(0.0234), "0.023");
        assert_eq!(short(1.0), "1");
        assert_eq!(short(1.46), "1.5");
        assert_eq!(short(12.0), "12");
        assert_eq!(short(2500.0), "2500");
        assert_eq!(short(34059.0), "34k");
        assert_eq!(short(2.5e6), "2.5M");
        assert_eq!(short(-1.0), "0");
        assert_eq!(short_ratio(3.41), "3.4x");
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(bytes(20.0 * 1048576.0), "20 MiB");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(96.0), "96 B");
        assert_eq!(bytes(1024.0), "1 KiB");
    }

    #[test]
    fn counts_read_as_k_and_m() {
        assert_eq!(count(1024.0), "1k");
        assert_eq!(count(1536.0), "1.5k");
        assert_eq!(count(1048576.0), "1M");
        assert_eq!(count(500.0), "500");
    }

    #[test]
    fn seconds_are_whole_when_they_can_be() {
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
    }
}
