//! The charts' look, shared by the canvas and the text layout alike: layout constants, the
//! palette, the drawing area type and the render error. A leaf, so both can use it without
//! importing each other.

use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::prelude::DrawingArea;
use plotters::style::RGBColor;

use super::{ChartError, HEIGHT, WIDTH};

// ---------------------------------------------------------------------------------------------
// Layout constants and palette.

pub(super) const W: i32 = WIDTH as i32;
pub(super) const H: i32 = HEIGHT as i32;
pub(super) const MARGIN: i32 = 24;
pub(super) const GAP: i32 = 10;
pub(super) const TITLE_SIZE: f64 = 20.0;
pub(super) const TITLE_BASELINE: i32 = 38;
/// Top of the plotting area: below the title row.
pub(super) const PLOT_TOP: i32 = 70;
/// Room under the plotting area for one line of category or bucket labels.
pub(super) const X_LABEL_H: i32 = 44;
/// Baseline of the first label line below the plot, and the distance between label lines.
pub(super) const X_LABEL_BASELINE: i32 = 26;
pub(super) const LINE_H: i32 = 20;
/// Least blank space between neighbouring labels.
pub(super) const LABEL_SPACING: i32 = 8;
pub(super) const TICK_SIZE: f64 = 16.0;
/// Below this text stops being legible; labels are cut rather than shrunk further.
pub(super) const MIN_SIZE: f64 = 11.0;
pub(super) const MAX_X_LABEL_W: i32 = 140;

// A muted palette (slate text, pale grid, desaturated blue and orange) reads well on both of
// Discord's themes because the chart carries its own white background.
pub(super) const BG: RGBColor = RGBColor(255, 255, 255);
pub(super) const TEXT: RGBColor = RGBColor(55, 65, 81);
pub(super) const MUTED: RGBColor = RGBColor(107, 114, 128);
pub(super) const GRID: RGBColor = RGBColor(229, 231, 235);
pub(super) const AXIS: RGBColor = RGBColor(156, 163, 175);
pub(super) const TRACK: RGBColor = RGBColor(241, 243, 246);
pub(super) const BAR: RGBColor = RGBColor(84, 122, 165);

/// Line and marker colour of the `k`th series. Markers are darker than their line (and used
/// nowhere else), which keeps points visible where the line is steep and lets tests count them.
pub(super) fn palette(k: usize) -> (RGBColor, RGBColor) {
    const SERIES: [(RGBColor, RGBColor); 4] = [
        (RGBColor(84, 122, 165), RGBColor(45, 78, 120)),
        (RGBColor(221, 140, 82), RGBColor(168, 90, 38)),
        (RGBColor(106, 159, 116), RGBColor(58, 110, 70)),
        (RGBColor(150, 120, 170), RGBColor(100, 70, 125)),
    ];
    SERIES[k % SERIES.len()]
}

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

pub(super) fn render_err(e: impl std::fmt::Display) -> ChartError {
    ChartError::Render(e.to_string())
}
