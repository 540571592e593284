//! Invoice settings: the number series and the reminder intervals.

use clap::Args;

/// How invoices are numbered and chased.
#[derive(Clone, Debug, Args)]
pub struct InvoiceSettings {
    /// The series prefix of invoice numbers: `<series>-<year>-<counter>`,
    /// the counter gapless per series and year (letters, digits, `-`, `/`, `.`).
    #[arg(long, env = "FIELDSYNC_INVOICE_SERIES", default_value = "INV", value_parser = parse_series, global = true)]
    pub invoice_series: String,
    /// Ages (days since issue) at which an unpaid invoice's customer is
    /// reminded, comma-separated; each once. Empty: no reminders.
    #[arg(
        long,
        env = "FIELDSYNC_INVOICE_REMINDER_DAYS",
        value_delimiter = ',',
        default_value = "14,30,60",
        global = true
    )]
    pub invoice_reminder_days: Vec<u32>,
    /// Email each issued invoice to the job's customer (when the job has
    /// an address): `true` or `false`.
    #[arg(long, env = "FIELDSYNC_INVOICE_EMAIL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub invoice_email: bool,
    /// Days a link to the printable invoice in an email stays valid.
    #[arg(
        long,
        env = "FIELDSYNC_INVOICE_LINK_DAYS",
        default_value_t = 365,
        global = true
    )]
    pub invoice_link_days: u32,
}

impl Default for InvoiceSettings {
    fn default() -> Self {
        Self {
            invoice_series: "INV".into(),
            invoice_reminder_days: vec![14, 30, 60],
            invoice_email: true,
            invoice_link_days: 365,
        }
    }
}

impl InvoiceSettings {
    /// The reminder ages, ascending, without zero or repeats.
    pub fn reminder_days(&self) -> Vec<u32> {
        let mut d: Vec<u32> = self
            .invoice_reminder_days
            .iter()
            .copied()
            .filter(|d| *d > 0)
            .collect();
        d.sort_unstable();
        d.dedup();
        d
    }

    /// The number of the `seq`-th invoice of `year` in the series.
    pub fn number(&self, year: i32, seq: i64) -> String {
        format!("{}-{year:04}-{seq:06}", self.invoice_series)
    }
}

fn parse_series(s: &str) -> Result<String, String> {
    // With the year and counter appended it must still be a valid number.
    if s.len() <= 24 && fieldsync_core::job::invoice::is_invoice_number(s) {
        Ok(s.to_owned())
    } else {
        Err("1-24 letters, digits, '-', '/' or '.'".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_series() {
        let s = InvoiceSettings::default();
        assert_eq!(s.number(2026, 42), "INV-2026-000042");
        assert!(fieldsync_core::job::invoice::is_invoice_number(
            &s.number(2026, 42)
        ));
        assert!(parse_series("A B").is_err());
        assert!(parse_series("").is_err());
        let r = InvoiceSettings {
            invoice_reminder_days: vec![30, 0, 14, 30],
            ..s
        };
        assert_eq!(r.reminder_days(), vec![14, 30]);
    }
}
