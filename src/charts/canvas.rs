//! The canvas every chart draws on: layout constants, palette, PNG rendering, filled shapes, and
//! the value axis with its plotting rectangle.

use plotters::backend::BitMapBackend;
use plotters::element::{PathElement, Rectangle};
use plotters::prelude::IntoDrawingArea;
use plotters::style::{Color, RGBColor, ShapeStyle};

use super::text::{baseline_for_center, draw_text, face, fit, text_width, Align};
use super::{ChartError, HEIGHT, WIDTH};

pub(super) use super::style::*;

// ---------------------------------------------------------------------------------------------
// Drawing helpers.

/// Draws into a fresh white canvas and returns it as PNG bytes.
pub(super) fn render(
    draw: impl FnOnce(&Area) -> Result<(), ChartError>,
) -> Result<Vec<u8>, ChartError> {
    face()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        area.fill(&BG).map_err(render_err)?;
        draw(&area)?;
        area.present().map_err(render_err)?;
    }
    encode_png(&rgb)
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Charts are mostly flat colour: fast deflate is a fraction of the default's time for
    // a few percent more bytes, and a report waits for it.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(render_err)?;
    writer.write_image_data(rgb).map_err(render_err)?;
    writer.finish().map_err(render_err)?;
    Ok(out)
}

/// Fills the pixels `x0..x1` by `y0..y1` (ends excluded, as plotters' bitmap backend fills
/// opaque rectangles; its outline rasterizer includes them, so only fills go through here).
pub(super) fn fill_rect(
    area: &Area,
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
    color: RGBColor,
) -> Result<(), ChartError> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled()))
        .map_err(render_err)
}

/// The pixel span `start..end` of a bar `thickness` wide centred on `center`, never empty so
/// that a thin bar still shows.
pub(super) fn bar_span(center: f64, thickness: f64) -> (i32, i32) {
    let start = (center - thickness / 2.0).round() as i32;
    let end = ((center + thickness / 2.0).round() as i32).max(start + 1);
    (start, end)
}

fn hline(area: &Area, x0: i32, x1: i32, y: i32, color: RGBColor) -> Result<(), ChartError> {
    area.draw(&PathElement::new(
        vec![(x0, y), (x1, y)],
        ShapeStyle::from(color),
    ))
    .map_err(render_err)
}

/// The empty state: a pale frame where the data would be, under the caller's title.
pub(super) fn draw_frame(area: &Area) -> Result<(), ChartError> {
    let (x0, y0, x1, y1) = (MARGIN, PLOT_TOP, W - MARGIN, H - MARGIN);
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], GRID.stroke_width(2)))
        .map_err(render_err)
}

// ---------------------------------------------------------------------------------------------
// Value axis.

/// Tick values covering `lo..=hi` with about `target` intervals, at a 1-2-2.5-5 step no finer
/// than `min_step`: round numbers a reader can interpolate between.
pub(super) fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> Vec<f64> {
    let raw = (hi - lo) / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|&n| norm <= n)
        .unwrap_or(10.0);
    let step = (mag * nice).max(min_step);
    if !step.is_finite() || step <= 0.0 {
        return vec![lo, hi];
    }
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let count = ((last - first) as usize).min(20);
    // Multiply from an integer index rather than accumulating, so 0.1 + 0.2 drift can't leave
    // a tick at 0.30000000000000004 (or skip the zero line).
    (0..=count).map(|k| (first + k as f64) * step).collect()
}

/// The value axis: ticks, their formatted labels and the pixel width those labels need.
pub(super) struct YAxis {
    ticks: Vec<(f64, String)>,
    label_w: i32,
    lo: f64,
    hi: f64,
}

impl YAxis {
    /// An axis for `values` (finite ones only), always including zero: bars and money trends are
    /// read against zero, and a small rise must not be drawn as a cliff. `headroom` stretches the
    /// far ends to leave room for value labels.
    pub(super) fn new(
        values: impl Iterator<Item = f64>,
        headroom: f64,
        y_format: &dyn Fn(f64) -> String,
    ) -> Result<Self, ChartError> {
        let (mut lo, mut hi, mut integers) = (0.0f64, 0.0f64, true);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
            integers &= v.fract() == 0.0;
        }
        let values = if hi == lo {
            // All zero: a single zero line at the bottom, not five ticks all labelled "0".
            hi = 1.0;
            vec![0.0]
        } else {
            (lo, hi) = (lo * headroom, hi * headroom);
            if !(hi - lo).is_finite() {
                // Values near f64::MAX overflow the span; shrink so the mapping can divide.
                (lo, hi) = (lo / 4.0, hi / 4.0);
            }
            // Counts (all values whole) never get ticks at 0.5.
            nice_ticks(lo, hi, 5, if integers { 1.0 } else { 0.0 })
        };
        let mut ticks = Vec::with_capacity(values.len());
        let mut label_w = 0;
        for v in &values {
            // "-0" from rounding would read as a different value from the "0" of the baseline.
            let v = if *v == 0.0 { 0.0 } else { *v };
            let label = fit(&y_format(v), TICK_SIZE, MAX_X_LABEL_W)?;
            label_w = label_w.max(text_width(&label, TICK_SIZE)?);
            ticks.push((v, label));
        }
        let lo = values.first().copied().unwrap_or(lo).min(lo);
        let hi = values.last().copied().unwrap_or(hi).max(hi);
        Ok(Self {
            ticks,
            label_w,
            lo,
            hi,
        })
    }

    /// The plotting rectangle right of this axis's labels, from under the title down to
    /// `bottom`, mapping the axis's range.
    pub(super) fn plot(&self, bottom: i32) -> Plot {
        Plot {
            left: MARGIN + self.label_w + GAP,
            right: W - MARGIN,
            top: PLOT_TOP,
            bottom,
            lo: self.lo,
            hi: self.hi,
        }
    }

    /// Grid lines at each tick, a stronger zero line, and the labels right-aligned on the left.
    pub(super) fn draw(&self, area: &Area, plot: &Plot) -> Result<(), ChartError> {
        for (v, label) in &self.ticks {
            let y = plot.y(*v);
            hline(
                area,
                plot.left,
                plot.right,
                y,
                if *v == 0.0 { AXIS } else { GRID },
            )?;
            let baseline = baseline_for_center(y as f64, TICK_SIZE);
            draw_text(
                area,
                label,
                plot.left - GAP,
                baseline,
                TICK_SIZE,
                MUTED,
                Align::Right,
            )?;
        }
        Ok(())
    }
}

/// The plotting rectangle in pixels and the value range it maps.
pub(super) struct Plot {
    pub(super) left: i32,
    right: i32,
    top: i32,
    pub(super) bottom: i32,
    lo: f64,
    hi: f64,
}

impl Plot {
    pub(super) fn width(&self) -> i32 {
        (self.right - self.left).max(1)
    }

    pub(super) fn y(&self, v: f64) -> i32 {
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        (self.bottom as f64 - t * (self.bottom - self.top) as f64).round() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 121_000.0, 5, 0.0),
            [0.0, 25e3, 50e3, 75e3, 100e3, 125e3]
        );
        assert_eq!(nice_ticks(0.0, 3.0, 5, 1.0), [0.0, 1.0, 2.0, 3.0]);
        let t = nice_ticks(-4_900.0, 5_700.0, 5, 0.0);
        assert!(t.contains(&0.0) && t[0] <= -4_900.0 && *t.last().unwrap() >= 5_700.0);
    }
}
