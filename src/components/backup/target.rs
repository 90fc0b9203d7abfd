//! What `rampart restore` restores to: a point in time (`--to`), a backup
//! (`--backup LABEL`) or the end of the archive (neither). Pure: the time is
//! parsed here, checked against the repository in `repo`.

/// A restore target as the operator gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A point in time: seconds since the epoch (UTC), and the text pgBackRest gets.
    Time { epoch: f64, text: String },
    /// The end of one backup (consistent, no WAL replayed past it).
    Backup(String),
    /// Everything the archive holds.
    Latest,
}

/// Parses `--to`: `YYYY-MM-DD HH:MM[:SS[.frac]]` (or a `T` between) with a
/// time zone: `Z`, `+HH`, `+HH:MM` or `+HHMM` (or `-`).
pub fn parse_time(s: &str) -> Result<Target, String> {
    let bad = |why: &str| {
        format!("`{}` is not a time rampart can restore to: {why}; write it as \"2026-11-30 14:04:00+00\" (a date, a time and its UTC offset)", s.escape_debug())
    };
    let t = s.trim();
    if t.len() < 16 || !t.is_ascii() {
        return Err(bad("too short"));
    }
    let (date, rest) = t.split_at(10);
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || d[0].len() != 4 || d[1].len() != 2 || d[2].len() != 2 {
        return Err(bad("the date must be YYYY-MM-DD"));
    }
    let num = |x: &str, what: &str| -> Result<i64, String> {
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("{what} `{x}` is not a number")));
        }
        x.parse::<i64>().map_err(|_| bad(what))
    };
    let (y, mo, da) = (
        num(d[0], "the year")?,
        num(d[1], "the month")?,
        num(d[2], "the day")?,
    );
    if !(1..=12).contains(&mo) || da < 1 || da > days_in_month(y, mo) {
        return Err(bad("no such date"));
    }
    let rest = rest
        .strip_prefix(' ')
        .or_else(|| rest.strip_prefix('T'))
        .ok_or_else(|| bad("a space or T must separate the date and the time"))?;
    // the time runs up to the zone: Z, + or -
    let zpos = rest
        .find(['Z', 'z', '+', '-'])
        .ok_or_else(|| bad("the time zone is missing (a time without one means different instants on different machines)"))?;
    let (clock, zone) = rest.split_at(zpos);
    let clock = clock.trim_end();
    let c: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&c.len()) {
        return Err(bad("the time must be HH:MM or HH:MM:SS"));
    }
    let (h, mi) = (num(c[0], "the hour")?, num(c[1], "the minute")?);
    let (sec, frac) = match c.get(2) {
        Some(x) => match x.split_once('.') {
            Some((w, f)) => (num(w, "the second")?, {
                num(f, "the fraction of a second")?;
                format!(".{f}")
            }),
            None => (num(x, "the second")?, String::new()),
        },
        None => (0, String::new()),
    };
    if h > 23 || mi > 59 || sec > 59 {
        return Err(bad("no such time of day"));
    }
    let offset_min = match zone {
        "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            let (oh, om) = match digits.len() {
                2 => (num(&digits, "the UTC offset")?, 0),
                4 => (
                    num(&digits[..2], "the UTC offset")?,
                    num(&digits[2..], "the UTC offset")?,
                ),
                _ => return Err(bad("the UTC offset must be +HH, +HH:MM or +HHMM")),
            };
            if oh > 14 || om > 59 {
                return Err(bad("the UTC offset is out of range"));
            }
            sign * (oh * 60 + om)
        }
    };
    let local = days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + sec;
    let utc = local - offset_min * 60;
    let frac_val: f64 = if frac.is_empty() {
        0.0
    } else {
        format!("0{frac}").parse().unwrap_or(0.0)
    };
    Ok(Target::Time {
        epoch: utc as f64 + frac_val,
        text: format!("{}{frac}+00", utc_text(utc)),
    })
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of seconds since the epoch.
pub fn utc_text(epoch: i64) -> String {
    let days = epoch.div_euclid(86400);
    let secs = epoch.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(s: &str) -> f64 {
        match parse_time(s).unwrap() {
            Target::Time { epoch, .. } => epoch,
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn times_with_their_zone_are_instants() {
        // 2026-11-30 14:04:00 UTC, checked with `date -u -d '2026-11-30 14:04:00' +%s`
        assert_eq!(epoch("2026-11-30 14:04:00+00"), 1_796_047_440.0);
        assert_eq!(epoch("2026-11-30T14:04:00Z"), 1_796_047_440.0);
        assert_eq!(epoch("2026-11-30 15:04+01:00"), 1_796_047_440.0);
        assert_eq!(epoch("2026-11-30 09:04:00-0500"), 1_796_047_440.0);
        assert_eq!(epoch("2026-11-30 14:04:00.25+00"), 1_796_047_440.25);
        assert_eq!(
            parse_time("2026-11-30 15:04:00.5+01").unwrap(),
            Target::Time {
                epoch: 1_796_047_440.5,
                text: "2026-11-30 14:04:00.5+00".into()
            }
        );
        assert_eq!(utc_text(0), "1970-01-01 00:00:00");
        assert_eq!(epoch("2024-02-29 00:00:00Z"), 1_709_164_800.0);
    }

    #[test]
    fn bad_times_say_what_to_write() {
        for (s, why) in [
            ("yesterday", "too short"),
            ("2026-11-30 14:04:00", "the time zone is missing"),
            ("2026-02-30 14:04:00+00", "no such date"),
            ("2026-11-30 25:04:00+00", "no such time of day"),
            ("2026/11/30 14:04:00+00", "YYYY-MM-DD"),
            ("2026-11-30 14:04:00+5", "+HH, +HH:MM or +HHMM"),
        ] {
            let e = parse_time(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.contains("\"2026-11-30 14:04:00+00\""), "{e}");
        }
    }
}
