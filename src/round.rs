//! Round (测评轮次) and period identifiers: `2018-R2`, `2018Q3`, `2018H1`, `2018`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A measurement round: the year and its number within the year (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoundId {
    pub year: i32,
    pub number: u32,
}

impl fmt::Display for RoundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-R{}", self.year, self.number)
    }
}

impl FromStr for RoundId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Invalid(crate::lang::tr!(
                "轮次 {s:?} 的写法不对，应为“年份-R轮次”（例如 2018-R2）",
                "round id {s:?} is not of the form YEAR-Rn (for example 2018-R2)"
            ))
        };
        let (y, r) = s.trim().split_once('-').ok_or_else(bad)?;
        let r = r
            .strip_prefix('R')
            .or_else(|| r.strip_prefix('r'))
            .ok_or_else(bad)?;
        // Digits only (no sign, no spaces inside): `2018-R+1` is not a round id.
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(y) || !digits(r) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let number: u32 = r.parse().map_err(|_| bad())?;
        if !(1900..=9999).contains(&year) || number == 0 {
            return Err(bad());
        }
        Ok(RoundId { year, number })
    }
}

/// An evaluation period: a quarter, a half-year or a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Quarter(i32, u32),
    Half(i32, u32),
    Year(i32),
}

impl Period {
    pub fn year(&self) -> i32 {
        match *self {
            Period::Quarter(y, _) | Period::Half(y, _) | Period::Year(y) => y,
        }
    }

    /// The quarters (1..4) the period spans.
    pub fn quarters(&self) -> Vec<u32> {
        match *self {
            Period::Quarter(_, q) => vec![q],
            Period::Half(_, h) => vec![2 * h - 1, 2 * h],
            Period::Year(_) => vec![1, 2, 3, 4],
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Quarter(y, q) => write!(f, "{y}Q{q}"),
            Period::Half(y, h) => write!(f, "{y}H{h}"),
            Period::Year(y) => write!(f, "{y}"),
        }
    }
}

impl FromStr for Period {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Invalid(crate::lang::tr!(
                "考核期 {s:?} 不是季度、半年或年度（如 2018Q2、2018H1、2018）",
                "period {s:?} is not a quarter, half-year or year (2018Q2, 2018H1, 2018)"
            ))
        };
        let t = s.trim().to_ascii_uppercase();
        let year = |y: &str| -> Result<i32, Error> {
            let y: i32 = y.parse().map_err(|_| bad())?;
            if (1900..=9999).contains(&y) {
                Ok(y)
            } else {
                Err(bad())
            }
        };
        if let Some((y, q)) = t.split_once('Q') {
            let q: u32 = q.parse().map_err(|_| bad())?;
            if !(1..=4).contains(&q) {
                return Err(bad());
            }
            return Ok(Period::Quarter(year(y)?, q));
        }
        if let Some((y, h)) = t.split_once('H') {
            let h: u32 = h.parse().map_err(|_| bad())?;
            if !(1..=2).contains(&h) {
                return Err(bad());
            }
            return Ok(Period::Half(year(y)?, h));
        }
        Ok(Period::Year(year(&t)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_and_period_ids() {
        let r: RoundId = "2018-R2".parse().unwrap();
        assert_eq!((r.year, r.number), (2018, 2));
        assert_eq!(r.to_string(), "2018-R2");
        assert!("2018R2".parse::<RoundId>().is_err());
        assert!("2018-R0".parse::<RoundId>().is_err());
        assert_eq!("2018h1".parse::<Period>().unwrap(), Period::Half(2018, 1));
        assert_eq!("2018Q3".parse::<Period>().unwrap().quarters(), vec![3]);
        assert_eq!("2018".parse::<Period>().unwrap(), Period::Year(2018));
        assert!("2018Q5".parse::<Period>().is_err());
    }
}
