//! The bar chart: one vertical bar per item, its value on top and its name underneath.

use super::canvas::{
    bar_span, draw_frame, fill_rect, render, YAxis, BAR, H, LABEL_SPACING, LINE_H, MARGIN,
    MIN_SIZE, MUTED, TEXT, TICK_SIZE, W, X_LABEL_BASELINE, X_LABEL_H,
};
use super::text::{clean, draw_text, draw_title, fit, thinning, widest, wrap2, Align};
use super::ChartError;

/// Category labels may shrink this far before they are cut.
const MIN_CATEGORY_SIZE: f64 = 14.0;

/// Vertical bars (e.g. revenue by product), labelled under each bar, value on top.
///
/// Values are printed with `y_format` on the bars themselves because readers compare products
/// by their figures, not by reading the axis; the value font shrinks before it would overlap the
/// neighbouring bar. Negative values hang below zero with their label underneath.
pub fn bars(
    title: &str,
    items: &[(String, f64)],
    y_format: &dyn Fn(f64) -> String,
) -> Result<Vec<u8>, ChartError> {
    render(|area| {
        draw_title(area, title, W - 2 * MARGIN)?;
        if items.is_empty() {
            return draw_frame(area);
        }
        // Headroom above the tallest bar for its value label.
        let axis = YAxis::new(items.iter().map(|(_, v)| *v), 1.1, y_format)?;
        let mut plot = axis.plot(H - X_LABEL_H);
        let n = items.len();
        let slot = plot.width() as f64 / n as f64;
        let (label_size, labels) = category_labels(items.iter().map(|(l, _)| l.as_str()), slot)?;
        // A second line of labels takes its room from the plot, not from the margin.
        if labels.iter().any(|l| l.len() > 1) {
            plot.bottom -= LINE_H;
        }
        axis.draw(area, &plot)?;

        let bar_w = (slot * 0.62).clamp(1.0, 90.0);
        let x_at = |i: usize| plot.left as f64 + slot * (i as f64 + 0.5);
        let zero = plot.y(0.0);

        // One font size for every value label, the largest at which all of them fit their slot,
        // so the labels read as one row.
        let values: Vec<String> = items
            .iter()
            .map(|(_, v)| {
                if v.is_finite() {
                    y_format(*v)
                } else {
                    String::new()
                }
            })
            .map(|s| clean(&s))
            .collect();
        let max_value_w = (slot - 4.0).max(1.0) as i32;
        let mut value_size = TICK_SIZE;
        while value_size > MIN_SIZE && widest(&values, value_size)? > max_value_w {
            value_size -= 1.0;
        }

        for (i, (_, v)) in items.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let cx = x_at(i);
            let (x0, x1) = bar_span(cx, bar_w);
            let mut y = plot.y(*v);
            // A non-zero value keeps a visible sliver even when it is tiny next to the largest.
            if *v > 0.0 && zero - y < 2 {
                y = zero - 2;
            } else if *v < 0.0 && y - zero < 2 {
                y = zero + 2;
            }
            if y != zero {
                let (top, bottom) = if y < zero {
                    (y, zero)
                } else {
                    (zero + 1, y + 1)
                };
                fill_rect(area, x0, top, x1, bottom, BAR)?;
            }
            let label = fit(&values[i], value_size, max_value_w)?;
            let baseline = if *v >= 0.0 {
                y - 8
            } else {
                y + 8 + (0.72 * value_size) as i32
            };
            draw_text(
                area,
                &label,
                cx.round() as i32,
                baseline,
                value_size,
                TEXT,
                Align::Center,
            )?;
        }

        for (i, lines) in labels.iter().enumerate() {
            for (k, line) in lines.iter().enumerate() {
                let baseline = plot.bottom + X_LABEL_BASELINE + k as i32 * LINE_H;
                let x = x_at(i).round() as i32;
                draw_text(area, line, x, baseline, label_size, MUTED, Align::Center)?;
            }
        }
        Ok(())
    })
}

/// Category labels for bars `slot` pixels apart, and their font size: one or two lines each,
/// wrapped at spaces (or between CJK characters), because every bar needs its name and product
/// names are often two words. The font steps down a little before any label is cut with "…".
/// Only when a slot is too narrow for even a few characters (far more bars than the 12 we design
/// for) are labels thinned like time buckets.
fn category_labels<'a>(
    labels: impl Iterator<Item = &'a str>,
    slot: f64,
) -> Result<(f64, Vec<Vec<String>>), ChartError> {
    let room = slot as i32 - LABEL_SPACING;
    let labels: Vec<&str> = labels.collect();
    if room >= 3 * TICK_SIZE as i32 {
        let mut size = TICK_SIZE;
        loop {
            let mut any_cut = false;
            let mut wrapped = Vec::with_capacity(labels.len());
            for l in &labels {
                let (lines, cut) = wrap2(l, size, room)?;
                any_cut |= cut;
                wrapped.push(lines);
            }
            if !any_cut || size <= MIN_CATEGORY_SIZE {
                return Ok((size, wrapped));
            }
            size -= 1.0;
        }
    }
    let (step, max_w) = thinning(&labels, slot)?;
    let mut thinned = Vec::with_capacity(labels.len());
    for (i, l) in labels.iter().enumerate() {
        thinned.push(if i % step == 0 {
            vec![fit(l, TICK_SIZE, max_w)?]
        } else {
            vec![]
        });
    }
    Ok((TICK_SIZE, thinned))
}

#[cfg(test)]
mod tests {
    use super::bars;
    use crate::charts::tests::{money, vertical_bars, Image};

    #[test]
    fn bars_draw_one_bar_per_item() {
        let items: Vec<(String, f64)> = (0..12)
            .map(|i| (format!("Product number {i}"), 5_000.0 * (12 - i) as f64))
            .collect();
        let img = Image::decode(&bars("Revenue by product", &items, &money).unwrap());
        assert_eq!(vertical_bars(&img), 12);

        let items = [("Tiny".to_string(), 1.0), ("Huge".to_string(), 1_000_000.0)];
        let img = Image::decode(&bars("Revenue by product", &items, &money).unwrap());
        assert_eq!(vertical_bars(&img), 2, "a tiny value still shows a sliver");
    }
}
