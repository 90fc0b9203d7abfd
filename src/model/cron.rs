//! A 5-field cron schedule as an exact systemd calendar event (`OnCalendar=`).
//! What cannot be expressed exactly is an error, never an approximation.

/// minute, hour, day of month, month, day of week, with their bounds.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const SYSTEMD_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `0 2 * * MON` -> `Mon *-*-* 02:00:00`. Handles `*`, values, names
/// (JAN..DEC, SUN..SAT), ranges `a-b`, lists `a,b`, steps `*/n`, `a/n`,
/// `a-b/n`, and `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
/// The error says which field is wrong and why.
pub fn to_calendar(cron: &str) -> Result<String, String> {
    let cron = cron.trim();
    let macro_form = match cron {
        "@hourly" => Some("0 * * * *"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@monthly" => Some("0 0 1 * *"),
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        _ => None,
    };
    let f: Vec<&str> = macro_form.unwrap_or(cron).split_whitespace().collect();
    if f.len() != 5 {
        return Err(format!(
            "it has {} fields; cron needs 5: minute hour day-of-month month day-of-week",
            f.len()
        ));
    }
    // cron runs when EITHER a restricted day of month OR a restricted day of
    // week matches; systemd needs both, so that pair has no exact translation
    if !f[2].starts_with('*') && !f[4].starts_with('*') {
        return Err(format!("it restricts both the day of month (`{}`) and the day of week (`{}`): cron runs when either matches, systemd only when both do", f[2], f[4]));
    }
    let minute = numeric(f[0], 0)?;
    let hour = numeric(f[1], 1)?;
    let dom = numeric(f[2], 2)?;
    let month = numeric(f[3], 3)?;
    let dow = weekdays(f[4])?;
    Ok(format!("{dow}*-{month}-{dom} {hour}:{minute}:00"))
}

/// One value: a number in bounds, or a name for months and weekdays.
fn value(s: &str, field: usize) -> Result<u32, String> {
    let (name, lo, hi) = FIELDS[field];
    let names: &[&str] = match field {
        3 => &MONTHS,
        4 => &DAYS,
        _ => &[],
    };
    let up = s.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == up) {
        return Ok(if field == 3 { i as u32 + 1 } else { i as u32 });
    }
    match s.parse::<u32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{name} {v} is out of range {lo}-{hi}")),
        Err(_) if names.is_empty() => {
            Err(format!("{name} `{s}` is not a number from {lo} to {hi}"))
        }
        Err(_) => Err(format!(
            "{name} `{s}` is not a number from {lo} to {hi} or a name ({}-{})",
            names[0],
            names[names.len() - 1]
        )),
    }
}

fn step(s: &str, field: usize) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{} step `/{s}` must be a whole number above 0",
            FIELDS[field].0
        )),
    }
}

/// The values a field matches, in order (for the day of week, 7 is 0).
fn expand(s: &str, field: usize) -> Result<Vec<u32>, String> {
    let (name, lo, hi) = FIELDS[field];
    let mut out = Vec::new();
    for part in s.split(',') {
        if part.is_empty() {
            return Err(format!("{name} `{s}` has an empty list entry"));
        }
        let (range, by) = match part.split_once('/') {
            Some((r, n)) => (r, step(n, field)?),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, if field == 4 { 6 } else { hi })
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, field)?, value(b, field)?);
            if a > b {
                return Err(format!("{name} range `{range}` runs backwards"));
            }
            (a, b)
        } else {
            let a = value(range, field)?;
            // `a/n` is `a-MAX/n`
            (a, if part.contains('/') { hi } else { a })
        };
        let mut v = a;
        while v <= b {
            out.push(if field == 4 { v % 7 } else { v });
            v += by;
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Minute, hour, day of month or month in systemd's form.
fn numeric(s: &str, field: usize) -> Result<String, String> {
    let (_, lo, hi) = FIELDS[field];
    if s == "*" {
        return Ok("*".into());
    }
    // `*/n` keeps systemd's repetition form (`0/15`); everything else is listed
    if let Some(n) = s.strip_prefix("*/") {
        let n = step(n, field)?;
        return Ok(if n == 1 {
            "*".into()
        } else {
            format!("{lo}/{n}")
        });
    }
    let values = expand(s, field)?;
    if values.len() as u32 == hi - lo + 1 {
        return Ok("*".into());
    }
    Ok(compact(&values, |v| format!("{v:02}")))
}

/// The day-of-week prefix (`Mon..Fri `), empty for every day.
fn weekdays(s: &str) -> Result<String, String> {
    let days = expand(s, 4)?;
    if days.len() == 7 {
        return Ok(String::new());
    }
    Ok(format!(
        "{} ",
        compact(&days, |d| SYSTEMD_DAYS[d as usize].to_string())
    ))
}

/// Sorted values as a list, runs of three or more as `a..b`.
fn compact(values: &[u32], show: impl Fn(u32) -> String) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}..{}", show(values[i]), show(values[j])));
        } else {
            parts.extend(values[i..=j].iter().map(|v| show(*v)));
        }
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The translation table: cron on the left, the exact systemd event on the right.
    pub const TABLE: [(&str, &str); 24] = [
        ("0 2 * * *", "*-*-* 02:00:00"),
        ("0 2 * * MON", "Mon *-*-* 02:00:00"),
        ("0 2 * * mon", "Mon *-*-* 02:00:00"),
        ("30 4 1 * *", "*-*-01 04:30:00"),
        ("30 4 * * 7", "Sun *-*-* 04:30:00"),
        ("*/15 * * * 1-5", "Mon..Fri *-*-* *:0/15:00"),
        ("0 3 * * MON-FRI", "Mon..Fri *-*-* 03:00:00"),
        ("0 3 * * SAT,SUN", "Sun,Sat *-*-* 03:00:00"),
        ("0 3 * * 5-7", "Sun,Fri,Sat *-*-* 03:00:00"),
        ("0 3 * * 0-7", "*-*-* 03:00:00"),
        ("0 3 * * */2", "Sun,Tue,Thu,Sat *-*-* 03:00:00"),
        ("0 3 * * 1,3,5", "Mon,Wed,Fri *-*-* 03:00:00"),
        ("0,30 * * * *", "*-*-* *:00,30:00"),
        ("0 */6 * * *", "*-*-* 0/6:00:00"),
        ("0 1-5 * * *", "*-*-* 01..05:00:00"),
        ("0 8-18/2 * * *", "*-*-* 08,10,12,14,16,18:00:00"),
        ("5/20 * * * *", "*-*-* *:05,25,45:00"),
        ("0 0 1 */3 *", "*-1/3-01 00:00:00"),
        ("0 0 1,15 JAN,JUL *", "*-01,07-01,15 00:00:00"),
        ("15 2 */2 * *", "*-*-1/2 02:15:00"),
        ("0 0 * * *", "*-*-* 00:00:00"),
        ("@daily", "*-*-* 00:00:00"),
        ("@weekly", "Sun *-*-* 00:00:00"),
        ("0-59 0-23 1-31 1-12 *", "*-*-* *:*:00"),
    ];

    #[test]
    fn translation_table() {
        for (cron, want) in TABLE {
            assert_eq!(to_calendar(cron).as_deref(), Ok(want), "{cron}");
        }
    }

    #[test]
    fn what_cannot_be_translated_is_an_error_naming_the_field() {
        for (cron, why) in [
            ("0 2 * *", "it has 4 fields"),
            ("x 2 * * *", "minute `x` is not a number"),
            ("60 2 * * *", "minute 60 is out of range 0-59"),
            ("0 24 * * *", "hour 24 is out of range"),
            ("0 2 0 * *", "day of month 0 is out of range 1-31"),
            ("0 2 * 13 *", "month 13 is out of range"),
            ("0 2 * * 8", "day of week 8 is out of range 0-7"),
            (
                "0 2 * * MONDAY",
                "day of week `MONDAY` is not a number from 0 to 7 or a name (SUN-SAT)",
            ),
            ("0 2 1 * MON", "restricts both the day of month"),
            ("*/0 * * * *", "step `/0` must be a whole number above 0"),
            ("0 5-1 * * *", "range `5-1` runs backwards"),
            ("0 2,,3 * * *", "empty list entry"),
            ("@reboot", "it has 1 fields"),
        ] {
            let e = to_calendar(cron).unwrap_err();
            assert!(e.contains(why), "{cron}: {e}");
        }
    }

    /// Every translation is a valid calendar event for systemd itself, when
    /// systemd-analyze is on this machine (the strings are checked above either way).
    #[test]
    #[allow(clippy::print_stderr)] // a test's note to whoever runs it; the harness captures eprintln!
    fn systemd_accepts_every_translation() {
        let Ok(probe) = std::process::Command::new("systemd-analyze")
            .arg("--version")
            .output()
        else {
            eprintln!("systemd-analyze is not installed: checked the translation strings only");
            return;
        };
        assert!(probe.status.success());
        for (cron, want) in TABLE {
            let out = std::process::Command::new("systemd-analyze")
                .args(["calendar", want])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{cron} -> {want}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("Next elapse:"), "{cron} -> {want}: {text}");
        }
    }
}
