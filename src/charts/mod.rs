//! PNG charts for replies: the pipeline funnel, trends over time and per-product bars.
//!
//! Charts are drawn with plotters into an in-memory RGB buffer and encoded as PNG here, so the
//! module stays pure: no files, no clock, no system fonts (its one piece of state, `memo`, keeps
//! funnels drawn lately: same inputs, same bytes). Text is rasterized with ab_glyph from
//! WenQuanYi Micro Hei compiled into the binary (`include_bytes!`), because a chart must look the
//! same on a developer's laptop, in CI and in the slim runtime image, and stage or product names
//! are often Chinese. Nothing here reaches fontconfig or `/usr/share/fonts` (plotters is built
//! without its `ttf` feature, which would).
//!
//! Layout is computed by hand (pixel rectangles and plotters elements) rather than with
//! `ChartBuilder`: we need to measure labels before placing them, so that tick and category
//! labels never overlap and long names are cut with "…" instead of spilling over the bars.
//!
//! The font's licence (Apache-2.0, or GPL-3+ with the font exception) is in `FONT-LICENSE`.

mod bars;
mod canvas;
mod funnel;
mod memo;
mod style;
mod text;
mod trend;

#[cfg(test)]
mod tests;

pub use bars::bars;
pub use funnel::{funnel, funnel_bars};
pub use trend::trend;

/// Rendering failed (never expected; plotters errors are mapped here).
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// What plotters or the PNG encoder reported, for the log; users get a generic message.
    #[error("chart rendering failed: {0}")]
    Render(String),
}

/// Default size of every chart.
///
/// One size for all charts keeps them aligned when Discord shows several in a row, and 900x500
/// stays readable in Discord's inline preview without being opened.
pub const WIDTH: u32 = 900;
/// Default size of every chart (see [`WIDTH`]).
pub const HEIGHT: u32 = 500;

/// One stage of the funnel, already formatted by the caller.
///
/// The caller formats `value_label` because only it knows the workspace currency and locale;
/// `count` alone decides the bar's length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunnelBar {
    /// Stage name shown left of the bar; cut with "…" when too long.
    pub label: String,
    /// Deals that reached the stage; the bar length is proportional to it (negatives count as 0).
    pub count: i64,
    /// Text shown right of the bar, e.g. "42 · $120,000 · 55%".
    pub value_label: String,
}

/// One line of a trend chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry; cut with "…" when too long.
    pub name: String,
    /// One value per x label, in the same order. Missing trailing values and non-finite values
    /// leave a gap rather than being drawn as zero, which would look like a real drop; values
    /// past the last label are ignored.
    pub values: Vec<f64>,
}
