//! The arithmetic behind the reports beyond the funnel: KPI lines and quotas over a period,
//! trend buckets and their change, customer segments from recency, frequency and monetary
//! value, the forecast's what-if, product figures and the product lines people type. Pure: the
//! store reads, this decides, the engine words it.
//!
//! One file per topic; everything is re-exported here, so callers keep writing
//! `crate::domain::analytics::...`.

mod customers;
mod forecast;
mod kpi;
mod products;
mod trends;

pub use super::figures::{percent_change as change, ratio};
pub use customers::{
    p75, segment, segment_figures, top_values, CustomerProfile, Rfm, Segment, SegmentFigures,
    TOP_TRAITS,
};
pub use forecast::{current_conversion, forecast_stages, outlook, ForecastStage, Outlook, WhatIf};
pub use kpi::{attainment, period_quota, quota_over, KpiFigures, KpiTotals};
pub use products::{
    discount, lines_total, parse_lines, LineError, LineSpec, LineValue, LinesTooLarge, MAX_LINES,
};
pub use trends::{buckets, trend, BucketTotals, Bucketing, TrendPoint};
