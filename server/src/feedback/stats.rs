//! Aggregates of feedback results (per technician, per depot, per week)
//! and the trend chart, drawn on the server as SVG.

use std::collections::BTreeMap;

use fieldsync_core::UserId;
use maud::{Markup, html};
use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use super::questions::{COURTESY, FIXED, RATING, RECOMMEND};
use super::{Depot, FeedbackRequest};

/// Results of a set of feedback requests. Rates are fractions (0.0-1.0);
/// NPS is -100..100. `None` when nothing was answered.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    /// Technician or depot id; `None` for the overall row or "unknown".
    pub id: Option<Uuid>,
    pub name: String,
    pub requests: u32,
    pub responses: u32,
    pub response_rate: Option<f64>,
    pub avg_rating: Option<f64>,
    pub avg_courtesy: Option<f64>,
    pub fixed_rate: Option<f64>,
    pub nps: Option<f64>,
}

pub fn summarize<'a>(
    id: Option<Uuid>,
    name: String,
    rows: impl IntoIterator<Item = &'a FeedbackRequest>,
) -> Summary {
    let mut requests = 0u32;
    let (mut n, mut rating, mut courtesy, mut fixed, mut promoters, mut detractors) =
        (0u32, 0u32, 0u32, 0u32, 0u32, 0u32);
    for r in rows {
        requests += 1;
        if let Some(a) = &r.answer {
            n += 1;
            let score = |key| u32::try_from(a.score(key).unwrap_or(0)).unwrap_or(0);
            rating += score(RATING);
            courtesy += score(COURTESY);
            fixed += u32::from(a.yes(FIXED).unwrap_or(false));
            match a.score(RECOMMEND) {
                Some(9..) => promoters += 1,
                Some(..=6) => detractors += 1,
                _ => {}
            }
        }
    }
    let avg = |sum: u32| (n > 0).then(|| round2(f64::from(sum) / f64::from(n)));
    Summary {
        id,
        name,
        requests,
        responses: n,
        response_rate: (requests > 0).then(|| round2(f64::from(n) / f64::from(requests))),
        avg_rating: avg(rating),
        avg_courtesy: avg(courtesy),
        fixed_rate: avg(fixed),
        nps: (n > 0)
            .then(|| round2(100.0 * (f64::from(promoters) - f64::from(detractors)) / f64::from(n))),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One row per technician, by name.
pub fn by_technician(rows: &[FeedbackRequest]) -> Vec<Summary> {
    let mut groups: BTreeMap<Option<UserId>, Vec<&FeedbackRequest>> = BTreeMap::new();
    for r in rows {
        groups.entry(r.technician_id).or_default().push(r);
    }
    let mut out: Vec<Summary> = groups
        .into_iter()
        .map(|(tech, rs)| {
            let name = rs
                .iter()
                .find_map(|r| r.technician_name.clone())
                .unwrap_or_else(|| match tech {
                    Some(t) => t.to_string(),
                    None => "(unassigned)".into(),
                });
            summarize(tech.map(|t| t.as_uuid()), name, rs)
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One row per depot, by name.
pub fn by_depot(rows: &[FeedbackRequest], depots: &[Depot]) -> Vec<Summary> {
    let mut groups: BTreeMap<Option<Uuid>, Vec<&FeedbackRequest>> = BTreeMap::new();
    for r in rows {
        groups.entry(r.depot_id).or_default().push(r);
    }
    let mut out: Vec<Summary> = groups
        .into_iter()
        .map(|(depot, rs)| {
            let name = match depot {
                Some(d) => depots
                    .iter()
                    .find(|x| x.id == d)
                    .map(|x| x.name.clone())
                    .unwrap_or_else(|| d.to_string()),
                None => "(no depot)".into(),
            };
            summarize(depot, name, rs)
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Results of the answers given in one week (Monday to Sunday, UTC).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TrendPoint {
    /// The Monday the week starts on, `YYYY-MM-DD`.
    pub week: String,
    pub responses: u32,
    pub avg_rating: Option<f64>,
    pub fixed_rate: Option<f64>,
    pub nps: Option<f64>,
}

pub fn weekly_trend(rows: &[FeedbackRequest]) -> Vec<TrendPoint> {
    let mut weeks: BTreeMap<Date, Vec<&FeedbackRequest>> = BTreeMap::new();
    for r in rows {
        if let Some(a) = &r.answer {
            weeks.entry(week_of(a.answered_at)).or_default().push(r);
        }
    }
    weeks
        .into_iter()
        .map(|(week, rs)| {
            let s = summarize(None, String::new(), rs);
            TrendPoint {
                week: week.to_string(),
                responses: s.responses,
                avg_rating: s.avg_rating,
                fixed_rate: s.fixed_rate,
                nps: s.nps,
            }
        })
        .collect()
}

fn week_of(t: OffsetDateTime) -> Date {
    let d = t.date();
    d - Duration::days(i64::from(d.weekday().number_days_from_monday()))
}

/// A line chart of the weekly average rating (1-5), with axis labels and a
/// text alternative for screen readers.
pub fn trend_svg(points: &[TrendPoint]) -> Markup {
    const W: f64 = 640.0;
    const H: f64 = 240.0;
    const L: f64 = 40.0;
    const R: f64 = 16.0;
    const T: f64 = 16.0;
    const B: f64 = 40.0;
    let rated: Vec<(usize, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.avg_rating.map(|r| (i, r)))
        .collect();
    let x = |i: usize| {
        if points.len() <= 1 {
            L + (W - L - R) / 2.0
        } else {
            L + (W - L - R) * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |r: f64| T + (H - T - B) * (5.0 - r) / 4.0;
    let path: String = rated
        .iter()
        .enumerate()
        .map(|(n, (i, r))| {
            format!(
                "{}{:.1},{:.1}",
                if n == 0 { "M" } else { " L" },
                x(*i),
                y(*r)
            )
        })
        .collect();
    let summary = if rated.is_empty() {
        "No answers in this period.".to_owned()
    } else {
        rated
            .iter()
            .map(|(i, r)| format!("week of {}: {r:.2}", points[*i].week))
            .collect::<Vec<_>>()
            .join("; ")
    };
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) width="100%"
            role="img" aria-labelledby="trend-title trend-desc" class="trend" {
            title id="trend-title" { "Average rating per week" }
            desc id="trend-desc" { (summary) }
            @for r in 1..=5 {
                line x1=(L) x2=(W - R) y1=(y(f64::from(r))) y2=(y(f64::from(r))) stroke="#d0d0d0" stroke-width="1" {}
                text x=(L - 8.0) y=(y(f64::from(r)) + 4.0) text-anchor="end" font-size="12" fill="#1a1a1a" { (r) }
            }
            @for (i, p) in points.iter().enumerate() {
                text x=(x(i)) y=(H - B + 18.0) text-anchor="middle" font-size="11" fill="#1a1a1a" { (p.week.get(5..).unwrap_or(&p.week)) }
            }
            @if !path.is_empty() {
                path d=(path) fill="none" stroke="#0b57d0" stroke-width="2.5" {}
            }
            @for (i, r) in &rated {
                circle cx=(x(*i)) cy=(y(*r)) r="4" fill="#0b57d0" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use fieldsync_core::{JobId, Status};

    use super::*;
    use crate::feedback::questions::Value;
    use crate::feedback::{Answer, Channel};

    fn req(tech: u8, answer: Option<(bool, u8, u8)>, at: OffsetDateTime) -> FeedbackRequest {
        FeedbackRequest {
            id: Uuid::new_v4(),
            job_id: JobId::from_uuid(Uuid::new_v4()),
            job_status: Status::Completed,
            technician_id: Some(UserId::from_uuid(Uuid::from_bytes([tech; 16]))),
            technician_name: Some(format!("Tech {tech}")),
            depot_id: None,
            customer_name: "C".into(),
            channel: Channel::Email,
            contact: "c@example.com".into(),
            visit_date: "2026-11-02".into(),
            work_done: "w".into(),
            language: crate::i18n::Language::En,
            created_at: at,
            answer: answer.map(|(fixed, rating, recommend)| Answer {
                answered_at: at,
                values: [
                    (FIXED, Value::Yes(fixed)),
                    (RATING, Value::Score(rating.into())),
                    (COURTESY, Value::Score(5)),
                    (RECOMMEND, Value::Score(recommend.into())),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            }),
        }
    }

    #[test]
    fn summary_counts_rates_and_nps() {
        let t = time::macros::datetime!(2026-11-04 10:00 UTC);
        let rows = [
            req(1, Some((true, 5, 10)), t),
            req(1, Some((false, 2, 3)), t),
            req(1, Some((true, 4, 8)), t),
            req(1, None, t),
        ];
        let s = summarize(None, "all".into(), &rows);
        assert_eq!((s.requests, s.responses), (4, 3));
        assert_eq!(s.response_rate, Some(0.75));
        assert_eq!(s.avg_rating, Some(3.67));
        assert_eq!(s.fixed_rate, Some(0.67));
        assert_eq!(s.nps, Some(0.0));
        let by = by_technician(&rows);
        assert_eq!(by.len(), 1);
        assert_eq!(by[0].name, "Tech 1");
    }

    #[test]
    fn trend_groups_by_monday_and_draws_a_line() {
        let rows = [
            req(
                1,
                Some((true, 5, 10)),
                time::macros::datetime!(2026-11-04 10:00 UTC),
            ),
            req(
                1,
                Some((true, 3, 10)),
                time::macros::datetime!(2026-11-08 23:00 UTC),
            ),
            req(
                1,
                Some((true, 1, 10)),
                time::macros::datetime!(2026-11-09 01:00 UTC),
            ),
        ];
        let trend = weekly_trend(&rows);
        assert_eq!(trend.len(), 2);
        assert_eq!(trend[0].week, "2026-11-02");
        assert_eq!(trend[0].avg_rating, Some(4.0));
        assert_eq!(trend[1].week, "2026-11-09");
        let svg = trend_svg(&trend).into_string();
        assert!(svg.contains("<path d=\"M"), "{svg}");
        assert!(svg.contains("week of 2026-11-02: 4.00"), "{svg}");
    }
}
