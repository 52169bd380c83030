//! UTC calendar fields of epoch-millisecond times, as the per-day and per-minute queries
//! (q10, q14–q17) need them: computed with integer arithmetic (Howard Hinnant's
//! `civil_from_days`), with no time-zone database and no formatting machinery per record.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day of `time_ms` as days since 1970-01-01 (negative before).
#[inline]
pub fn day_number(time_ms: i64) -> i64 {
    time_ms.div_euclid(DAY_MS)
}

/// The UTC hour of day of `time_ms`, 0–23.
#[inline]
pub fn hour(time_ms: i64) -> u32 {
    (time_ms.rem_euclid(DAY_MS) / 3_600_000) as u32
}

/// The UTC minute of day of `time_ms`, 0–1439.
#[inline]
pub fn minute_of_day(time_ms: i64) -> u32 {
    (time_ms.rem_euclid(DAY_MS) / 60_000) as u32
}

/// `(year, month 1–12, day 1–31)` of a day number ([`day_number`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC date of a day number as `yyyy-MM-dd`.
pub fn date_string(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A minute of day as `HH:mm`.
pub fn minute_string(minute_of_day: u32) -> String {
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(day_number(1_704_067_200_000)), "2024-01-01");
        assert_eq!(date_string(day_number(951_782_400_000)), "2000-02-29");
        assert_eq!(date_string(day_number(-1)), "1969-12-31");
        assert_eq!(hour(1_704_067_200_000 + 13 * 3_600_000 + 59_999), 13);
        assert_eq!(
            minute_string(minute_of_day(1_704_067_200_000 + 61 * 60_000)),
            "01:01"
        );
        assert_eq!(minute_string(minute_of_day(-60_000)), "23:59");
    }
}
