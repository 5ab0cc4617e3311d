//! The trend chart: one line per series over time buckets, with a legend on the title row.

use plotters::element::{Circle, PathElement};
use plotters::style::Color;

use super::canvas::{
    draw_frame, fill_rect, palette, render, render_err, Area, Plot, YAxis, BG, H, MARGIN, MUTED,
    TEXT, TICK_SIZE, TITLE_BASELINE, W, X_LABEL_BASELINE, X_LABEL_H,
};
use super::text::{draw_text, draw_title, fit, text_width, thinning, Align, CENTER_ABOVE_BASELINE};
use super::{ChartError, Series};

const SWATCH_W: i32 = 20;
const MAX_LEGEND_NAME_W: i32 = 200;

/// Line chart over buckets (x labels like "W48" or "2026-11"), one or two series (e.g. revenue
/// won and pipeline created), each point marked; y axis formatted with `y_format`.
///
/// The y axis always includes zero so a small rise is not drawn as a cliff. Markers use a darker
/// shade than their line so single-point series and isolated values stay visible. With no
/// buckets or no finite values, only the title and an empty frame are drawn.
pub fn trend(
    title: &str,
    x_labels: &[String],
    series: &[Series],
    y_format: &dyn Fn(f64) -> String,
) -> Result<Vec<u8>, ChartError> {
    render(|area| {
        let n = x_labels.len();
        let finite = || {
            series
                .iter()
                .flat_map(|s| s.values.iter().take(n))
                .copied()
                .filter(|v| v.is_finite())
        };
        if n == 0 || finite().next().is_none() {
            draw_title(area, title, W - 2 * MARGIN)?;
            return draw_frame(area);
        }

        // Legend on the title row, right-aligned; the title gets what is left of the row.
        let legend_size = TICK_SIZE;
        let mut entries = Vec::new();
        let mut legend_w = 0;
        for (k, s) in series.iter().enumerate() {
            let name = fit(&s.name, legend_size, MAX_LEGEND_NAME_W)?;
            let w = text_width(&name, legend_size)?;
            legend_w += SWATCH_W + 6 + w + if k > 0 { 18 } else { 0 };
            entries.push((name, w, palette(k)));
        }
        draw_title(area, title, (W - 2 * MARGIN - legend_w - 24).max(40))?;
        let mut x = W - MARGIN - legend_w;
        let legend_baseline = TITLE_BASELINE;
        let legend_cy = legend_baseline as f64 - CENTER_ABOVE_BASELINE * legend_size;
        for (k, (name, w, (line, _))) in entries.iter().enumerate() {
            if k > 0 {
                x += 18;
            }
            let cy = legend_cy.round() as i32;
            fill_rect(area, x, cy - 2, x + SWATCH_W, cy + 2, *line)?;
            x += SWATCH_W + 6;
            draw_text(
                area,
                name,
                x,
                legend_baseline,
                legend_size,
                TEXT,
                Align::Left,
            )?;
            x += *w;
        }

        let axis = YAxis::new(finite(), 1.0, y_format)?;
        let plot = axis.plot(H - X_LABEL_H);
        axis.draw(area, &plot)?;

        let slot = plot.width() as f64 / n as f64;
        let x_at = |i: usize| (plot.left as f64 + slot * (i as f64 + 0.5)).round() as i32;
        draw_bucket_labels(area, &plot, x_labels, slot, x_at)?;

        for (k, s) in series.iter().enumerate() {
            let (line, marker) = palette(k);
            let points: Vec<Option<(i32, i32)>> = (0..n)
                .map(|i| match s.values.get(i) {
                    Some(v) if v.is_finite() => Some((x_at(i), plot.y(*v))),
                    _ => None,
                })
                .collect();
            // Split at gaps so a missing bucket breaks the line instead of bridging it.
            for run in points.split(|p| p.is_none()) {
                let run: Vec<(i32, i32)> = run.iter().flatten().copied().collect();
                if run.len() >= 2 {
                    area.draw(&PathElement::new(run, line.stroke_width(3)))
                        .map_err(render_err)?;
                }
            }
            for &(px, py) in points.iter().flatten() {
                area.draw(&Circle::new((px, py), 6, BG.filled()))
                    .map_err(render_err)?;
                area.draw(&Circle::new((px, py), 4, marker.filled()))
                    .map_err(render_err)?;
            }
        }
        Ok(())
    })
}

/// Time-bucket labels under the plot, centred on their points. When neighbours would collide
/// only every k-th is shown, k as small as possible: on a time axis the skipped ones are obvious
/// from their neighbours, which a cut "2026-…" would not be.
fn draw_bucket_labels(
    area: &Area,
    plot: &Plot,
    labels: &[String],
    slot: f64,
    x_at: impl Fn(usize) -> i32,
) -> Result<(), ChartError> {
    let (step, max_w) = thinning(labels, slot)?;
    let baseline = plot.bottom + X_LABEL_BASELINE;
    for (i, l) in labels.iter().enumerate().step_by(step) {
        let label = fit(l, TICK_SIZE, max_w)?;
        draw_text(
            area,
            &label,
            x_at(i),
            baseline,
            TICK_SIZE,
            MUTED,
            Align::Center,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::trend;
    use crate::charts::canvas::palette;
    use crate::charts::tests::{money, weeks, Image};
    use crate::charts::Series;

    #[test]
    fn trend_marks_every_point_of_every_series() {
        let x = weeks(26);
        let won = Series {
            name: "Revenue won".into(),
            values: (0..26).map(|i| 10_000.0 + 1_000.0 * i as f64).collect(),
        };
        // Shorter than the buckets, and well apart from the first series so no marker hides
        // another.
        let created = Series {
            name: "Pipeline created".into(),
            values: (0..7).map(|i| 80_000.0 + 2_000.0 * i as f64).collect(),
        };
        let img = Image::decode(&trend("Revenue", &x, &[won, created], &money).unwrap());
        assert_eq!(img.blobs(palette(0).1), 26);
        assert_eq!(img.blobs(palette(1).1), 7);
    }

    #[test]
    fn trend_leaves_gaps_for_missing_values() {
        let x = weeks(6);
        let s = Series {
            name: "Won".into(),
            values: vec![1.0, f64::NAN, 3.0, f64::INFINITY, 5.0, 6.0],
        };
        let img = Image::decode(&trend("Revenue", &x, &[s], &money).unwrap());
        assert_eq!(img.blobs(palette(0).1), 4);
    }
}
