//! A date range as a source: one item per step, in UTC (so an hourly range has 24
//! steps every day, daylight saving time or not).

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::{Span, ToSpan};
use serde_json::Value;

use super::Fields;

/// `--dates FROM..TO` with `--every` and `--reverse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateRange {
    start: DateTime,
    /// The last instant included. A `TO` given as a date includes that whole day.
    last: DateTime,
    every: Step,
    reverse: bool,
    text: String,
}

/// `--every`: a number of minutes, hours, days or months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    count: i64,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Minutes,
    Hours,
    Days,
    Months,
}

impl Step {
    /// Parses `--every`: a count and a unit (`min` or `m`, `h`, `d`, `w`, `mo`), as in `6h`.
    pub(crate) fn parse(text: &str) -> Result<Step, String> {
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (count, unit) = text.split_at(split);
        // Larger steps would overflow the calendar's arithmetic.
        let count: i64 = match count.parse() {
            Ok(n) if n > 0 && n <= MAX_STEP_COUNT => n,
            _ => {
                return Err(format!(
                    "expected a step such as 1d, 6h, 7d or 1mo (at most {MAX_STEP_COUNT} of a \
                     unit), not `{text}`"
                ));
            }
        };
        let unit = match unit {
            "m" | "min" => Unit::Minutes,
            "h" => Unit::Hours,
            "d" => Unit::Days,
            "w" => {
                return Ok(Step {
                    count: count * 7,
                    unit: Unit::Days,
                });
            }
            "mo" => Unit::Months,
            _ => return Err(format!("unknown unit in `{text}`: use min, h, d, w or mo")),
        };
        Ok(Step { count, unit })
    }

    /// `k` steps: computed from the start each time, so that monthly steps from
    /// the 31st land on the last day of short months and come back to the 31st.
    fn times(self, k: i64) -> Span {
        let n = self.count * k;
        match self.unit {
            Unit::Minutes => n.minutes(),
            Unit::Hours => n.hours(),
            Unit::Days => n.days(),
            Unit::Months => n.months(),
        }
    }

    /// The shortest a step can be, in seconds (a month: 28 days).
    fn shortest_seconds(self) -> i64 {
        let unit = match self.unit {
            Unit::Minutes => 60,
            Unit::Hours => 3600,
            Unit::Days => 86_400,
            Unit::Months => 28 * 86_400,
        };
        self.count * unit
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            Unit::Minutes => "min",
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Months => "mo",
        };
        write!(f, "{}{unit}", self.count)
    }
}

/// The largest count of a step's unit.
const MAX_STEP_COUNT: i64 = 1200;

/// Steps a range may have: more is almost surely a typo (minutes over decades).
const MAX_STEPS: i64 = 10_000_000;

impl DateRange {
    /// `FROM..TO`, each `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]` (UTC), inclusive.
    pub(crate) fn parse(text: &str, every: Step, reverse: bool) -> Result<DateRange, String> {
        let (from, to) = text
            .split_once("..")
            .ok_or_else(|| format!("expected FROM..TO (2024-01-01..2024-03-31), not `{text}`"))?;
        let start = parse_point(from)?;
        let last = match parse_date(to) {
            // The whole last day: its last step starts before midnight.
            Some(day) => day
                .to_datetime(Time::midnight())
                .checked_add(1.day())
                .and_then(|t| t.checked_sub(1.nanosecond()))
                .map_err(|e| e.to_string())?,
            _ => parse_point(to)?,
        };
        if last < start {
            return Err(format!("the range {text} ends before it starts"));
        }
        let range = DateRange {
            start,
            last,
            every,
            reverse,
            text: format!("{text} every {every}"),
        };
        let seconds = last.duration_since(start).as_secs();
        if seconds / every.shortest_seconds() > MAX_STEPS {
            return Err(format!(
                "{text} every {every} has more than {MAX_STEPS} steps"
            ));
        }
        Ok(range)
    }

    /// Every step in order (or newest first with `--reverse`), as item fields.
    pub(crate) fn items(&self) -> impl Iterator<Item = Fields> + '_ {
        let times: Box<dyn Iterator<Item = DateTime>> = match self.reverse {
            false => Box::new(self.times()),
            true => Box::new(self.times().collect::<Vec<_>>().into_iter().rev()),
        };
        times.map(fields)
    }

    fn times(&self) -> impl Iterator<Item = DateTime> + '_ {
        (0..)
            .map_while(|k| self.start.checked_add(self.every.times(k)).ok())
            .take_while(|t| *t <= self.last)
    }

    /// How messages and the run dir name the range.
    pub(crate) fn description(&self) -> &str {
        &self.text
    }
}

/// A bare date, without a time (jiff would also read a date out of a datetime).
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    (!text.contains(['T', 't', ' '])).then(|| text.parse().ok())?
}

fn parse_point(text: &str) -> Result<DateTime, String> {
    if let Some(date) = parse_date(text) {
        return Ok(date.to_datetime(Time::midnight()));
    }
    let text = text.trim().trim_end_matches('Z');
    text.parse::<DateTime>()
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)"))
}

/// The fields of a date range's item.
pub(super) const FIELDS: [&str; 6] = ["date", "datetime", "year", "month", "day", "hour"];

/// `date`, `datetime`, `year`, `month`, `day`, `hour`.
fn fields(t: DateTime) -> Fields {
    let text = |s: String| Value::String(s);
    Fields::from_iter([
        ("date".to_string(), text(t.date().to_string())),
        (
            "datetime".to_string(),
            text(format!("{}Z", t.strftime("%Y-%m-%dT%H:%M:%S"))),
        ),
        ("year".to_string(), text(format!("{:04}", t.year()))),
        ("month".to_string(), text(format!("{:02}", t.month()))),
        ("day".to_string(), text(format!("{:02}", t.day()))),
        ("hour".to_string(), text(format!("{:02}", t.hour()))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(range: &str, every: &str, reverse: bool) -> Vec<String> {
        let step = Step::parse(every).unwrap();
        DateRange::parse(range, step, reverse)
            .unwrap()
            .items()
            .map(|f| f["datetime"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn days_across_month_ends_and_a_leap_day() {
        let days = dates("2024-02-27..2024-03-02", "1d", false);
        assert_eq!(
            days,
            [
                "2024-02-27T00:00:00Z",
                "2024-02-28T00:00:00Z",
                "2024-02-29T00:00:00Z",
                "2024-03-01T00:00:00Z",
                "2024-03-02T00:00:00Z"
            ]
        );
        assert_eq!(dates("2024-01-01..2024-03-31", "1d", false).len(), 91);
    }

    #[test]
    fn hours_over_one_day_and_reverse() {
        let hours = dates("2024-03-31..2024-03-31", "1h", false);
        assert_eq!(hours.len(), 24, "UTC has no DST gap");
        assert_eq!(hours[23], "2024-03-31T23:00:00Z");
        let back = dates("2024-03-31..2024-03-31", "1h", true);
        assert_eq!(back[0], "2024-03-31T23:00:00Z");
        assert_eq!(
            dates("2024-01-01T06:00..2024-01-01T08:00", "1h", false).len(),
            3
        );
    }

    #[test]
    fn months_from_the_31st_clamp_and_come_back() {
        let months = dates("2024-01-31..2024-05-31", "1mo", false);
        let days: Vec<&str> = months.iter().map(|m| &m[..10]).collect();
        assert_eq!(
            days,
            [
                "2024-01-31",
                "2024-02-29",
                "2024-03-31",
                "2024-04-30",
                "2024-05-31"
            ]
        );
    }

    #[test]
    fn fields_of_a_step() {
        let step = Step::parse("1h").unwrap();
        let range = DateRange::parse("2024-07-04T05:00..2024-07-04T05:00", step, false).unwrap();
        let f = range.items().next().unwrap();
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"date":"2024-07-04","datetime":"2024-07-04T05:00:00Z","year":"2024","month":"07","day":"04","hour":"05"}"#
        );
        assert!(f.keys().eq(FIELDS), "FIELDS names what a step has");
    }

    #[test]
    fn bad_ranges_and_steps() {
        let day = Step::parse("1d").unwrap();
        assert!(DateRange::parse("2024-03-01..2024-02-01", day, false).is_err());
        assert!(DateRange::parse("2024-03-01", day, false).is_err());
        assert!(DateRange::parse("2024-13-01..2024-14-01", day, false).is_err());
        assert!(
            DateRange::parse(
                "1900-01-01..2100-01-01",
                Step::parse("1min").unwrap(),
                false
            )
            .is_err()
        );
        for bad in ["0d", "d", "1y", "-1d", ""] {
            assert!(Step::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Step::parse("2w").unwrap().to_string(), "14d");
        assert!(Step::parse("8000000d").is_err());
        // A date TO includes its whole day, whatever FROM's time.
        assert_eq!(dates("2024-01-01T06:00..2024-01-03", "1d", false).len(), 3);
    }
}
