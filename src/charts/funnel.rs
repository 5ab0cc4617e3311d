//! The funnel chart: one horizontal bar per pipeline stage, and the bars a pipeline report
//! feeds it.

use super::canvas::{
    bar_span, draw_frame, fill_rect, render, BAR, GAP, H, MARGIN, MIN_SIZE, PLOT_TOP, TEXT, TRACK,
    W,
};
use super::memo::Memo;
use super::text::{baseline_for_center, clean, draw_text, draw_title, fit, widest, Align};
use super::{ChartError, FunnelBar};
use std::sync::OnceLock;

/// Tallest funnel row: bars thicker than this read as blocks, not bars.
const MAX_ROW_H: f64 = 72.0;
const MAX_STAGE_LABEL_W: i32 = 220;
const MAX_VALUE_LABEL_W: i32 = 280;

/// The bars of a pipeline report's funnel: one per stage, as long as the deals that reached it,
/// labelled with that count and the conversion to the next stage (`percent` formats it in the
/// reader's locale).
pub fn funnel_bars(
    stats: &crate::domain::pipeline::PipelineStats,
    percent: &dyn Fn(f64) -> String,
) -> Vec<FunnelBar> {
    stats
        .stages
        .iter()
        .map(|s| FunnelBar {
            label: s.name.clone(),
            count: s.reached,
            value_label: match s.conversion_to_next {
                Some(c) => format!("{} · {}", s.reached, percent(c)),
                None => s.reached.to_string(),
            },
        })
        .collect()
}

/// PNGs by the title and bars they show.
type Drawn = Memo<(String, Vec<FunnelBar>), Vec<u8>>;

/// Horizontal funnel: one bar per stage, top to bottom, bar length = count; each bar labelled with
/// the stage name (left) and `value_label` (e.g. "42 · $120,000 · 55%") (right/inside).
///
/// Every stage gets a light full-length track behind its bar, so a stage nobody reached still
/// shows as a row instead of vanishing. With no stages only the title and an empty frame are
/// drawn: the caller says "no data" in its own language through `title`.
///
/// The funnels drawn lately are kept by title and bars ([`Memo`]): at most 64, about 30 KB
/// each.
pub fn funnel(title: &str, stages: &[FunnelBar]) -> Result<Vec<u8>, ChartError> {
    static DRAWN: OnceLock<Drawn> = OnceLock::new();
    let png = DRAWN
        .get_or_init(|| Memo::new(64))
        .get_or_make((title.to_string(), stages.to_vec()), || {
            draw_funnel(title, stages)
        })?;
    Ok(png.as_ref().clone())
}

fn draw_funnel(title: &str, stages: &[FunnelBar]) -> Result<Vec<u8>, ChartError> {
    render(|area| {
        draw_title(area, title, W - 2 * MARGIN)?;
        if stages.is_empty() {
            return draw_frame(area);
        }
        let top = PLOT_TOP;
        let bottom = H - MARGIN;

        // Rows share the height up to a comfortable maximum; a short funnel stays under its
        // title rather than being stretched into thick bars with wide gaps.
        let n = stages.len() as f64;
        let slot = ((bottom - top) as f64 / n).min(MAX_ROW_H);
        let top = top as f64;
        let size = label_size(slot);
        let bar_h = (slot * 0.7).max(1.0);

        // Label columns are sized to their widest entry (capped), so short stage names don't
        // waste space and long ones can't push the bars off the chart.
        let label_w = widest(stages.iter().map(|s| clean(&s.label)), size)?.min(MAX_STAGE_LABEL_W);
        let value_w =
            widest(stages.iter().map(|s| clean(&s.value_label)), size)?.min(MAX_VALUE_LABEL_W);

        let bar_left = MARGIN + label_w + GAP;
        let bar_max = (W - MARGIN - value_w - GAP - bar_left).max(1);
        let max_count = stages.iter().map(|s| s.count.max(0)).max().unwrap_or(0);

        for (i, s) in stages.iter().enumerate() {
            let cy = top + slot * (i as f64 + 0.5);
            let (y0, y1) = bar_span(cy, bar_h);
            fill_rect(area, bar_left, y0, bar_left + bar_max, y1, TRACK)?;

            let count = s.count.max(0);
            let len = if max_count > 0 && count > 0 {
                // Scale in f64: counts are i64 and the ratio is all we need. A reached stage
                // keeps at least a sliver so it never looks like zero.
                ((count as f64 / max_count as f64) * bar_max as f64)
                    .round()
                    .max(3.0) as i32
            } else {
                0
            };
            if len > 0 {
                fill_rect(area, bar_left, y0, bar_left + len, y1, BAR)?;
            }

            let baseline = baseline_for_center(cy, size);
            let label = fit(&s.label, size, label_w)?;
            draw_text(
                area,
                &label,
                bar_left - GAP,
                baseline,
                size,
                TEXT,
                Align::Right,
            )?;
            let value = fit(&s.value_label, size, value_w)?;
            draw_text(
                area,
                &value,
                bar_left + len + GAP,
                baseline,
                size,
                TEXT,
                Align::Left,
            )?;
        }
        Ok(())
    })
}

/// Font size for rows `slot` pixels tall: as large as reads well, smaller only when rows are
/// packed so tightly that labels would touch.
fn label_size(slot: f64) -> f64 {
    (slot * 0.5).clamp(MIN_SIZE, 16.0).floor()
}

#[cfg(test)]
mod tests {
    use super::funnel;
    use crate::charts::canvas::{BAR, H, PLOT_TOP};
    use crate::charts::tests::{cjk_funnel, funnel_bars, stage, Image};
    use crate::charts::FunnelBar;

    #[test]
    fn funnel_is_a_png_of_the_chart_size_with_one_bar_per_reached_stage() {
        let img = Image::decode(&funnel("Pipeline funnel", &cjk_funnel()).unwrap());
        assert_eq!(funnel_bars(&img), 5);

        let stages = [stage("Lead", 50), stage("Qualified", 0), stage("Won", 5)];
        let img = Image::decode(&funnel("Pipeline funnel", &stages).unwrap());
        assert_eq!(funnel_bars(&img), 2, "a stage nobody reached has no bar");

        let twelve: Vec<FunnelBar> = (0..12)
            .map(|i| stage(&format!("Stage {i}"), 100 - i * 7))
            .collect();
        let img = Image::decode(&funnel("Pipeline funnel", &twelve).unwrap());
        assert_eq!(funnel_bars(&img), 12);
    }

    #[test]
    fn chinese_labels_are_drawn_as_glyphs() {
        let cjk = funnel("销售漏斗", &cjk_funnel()).unwrap();
        let blank: Vec<FunnelBar> = cjk_funnel()
            .into_iter()
            .map(|s| FunnelBar {
                label: String::new(),
                ..s
            })
            .collect();
        let blank = funnel("销售漏斗", &blank).unwrap();
        assert_ne!(cjk, blank);

        // The label column (left of the bars, below the title) has ink only with the labels.
        let (cjk, blank) = (Image::decode(&cjk), Image::decode(&blank));
        let cjk_left = cjk.first_column_with(BAR).unwrap();
        assert!(cjk.ink(0, PLOT_TOP, cjk_left - 1, H) > 200);
        let blank_left = blank.first_column_with(BAR).unwrap();
        assert_eq!(blank.ink(0, PLOT_TOP, blank_left - 1, H), 0);

        // Missing glyphs would all draw the same box; different words must draw differently.
        let label_area = |label: &str| {
            let img = Image::decode(&funnel("", &[stage(label, 1)]).unwrap());
            let left = img.first_column_with(BAR).unwrap();
            (0..H)
                .flat_map(|y| (0..left - 1).map(move |x| (x, y)))
                .map(|(x, y)| img.at(x, y))
                .map(|c| (c.0, c.1, c.2))
                .collect::<Vec<_>>()
        };
        assert!(
            label_area("线索") != label_area("赢单"),
            "both words drew the same pixels"
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(
            funnel("漏斗", &cjk_funnel()).unwrap(),
            funnel("漏斗", &cjk_funnel()).unwrap()
        );
    }
}
