//! PNG charts for replies: the pipeline funnel, trends over time and per-product bars.
//!
//! Charts are drawn with plotters into an in-memory RGB buffer and encoded as PNG here, so the
//! module stays pure: no files, no clock, no system fonts. Text is rasterized with ab_glyph from
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

use std::sync::OnceLock;

use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::element::{Circle, PathElement, Rectangle};
use plotters::prelude::{DrawingArea, IntoDrawingArea};
use plotters::style::{Color, RGBColor, ShapeStyle};

use ab_glyph::{point, Font, FontRef, PxScale, PxScaleFont, ScaleFont};

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
#[derive(Debug, Clone, PartialEq)]
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

/// Horizontal funnel: one bar per stage, top to bottom, bar length = count; each bar labelled with
/// the stage name (left) and `value_label` (e.g. "42 · $120,000 · 55%") (right/inside).
///
/// Every stage gets a light full-length track behind its bar, so a stage nobody reached still
/// shows as a row instead of vanishing. With no stages only the title and an empty frame are
/// drawn: the caller says "no data" in its own language through `title`.
pub fn funnel(title: &str, stages: &[FunnelBar]) -> Result<Vec<u8>, ChartError> {
    render(|area| {
        let title_w = W - 2 * MARGIN;
        draw_title(area, title, title_w)?;
        let top = PLOT_TOP;
        let bottom = H - MARGIN;
        if stages.is_empty() {
            return draw_frame(area, MARGIN, top, W - MARGIN, bottom);
        }

        // Rows share the height up to a comfortable maximum; a short funnel stays under its
        // title rather than being stretched into thick bars with wide gaps.
        let n = stages.len() as f64;
        let slot = ((bottom - top) as f64 / n).min(MAX_ROW_H);
        let top = top as f64;
        let size = label_size(slot);
        let bar_h = (slot * 0.7).max(1.0);

        // Label columns are sized to their widest entry (capped), so short stage names don't
        // waste space and long ones can't push the bars off the chart.
        let mut label_w = 0;
        for s in stages {
            label_w = label_w.max(text_width(&clean(&s.label), size)?);
        }
        let label_w = label_w.min(MAX_STAGE_LABEL_W);
        let mut value_w = 0;
        for s in stages {
            value_w = value_w.max(text_width(&clean(&s.value_label), size)?);
        }
        let value_w = value_w.min(MAX_VALUE_LABEL_W);

        let bar_left = MARGIN + label_w + GAP;
        let bar_max = (W - MARGIN - value_w - GAP - bar_left).max(1);
        let max_count = stages.iter().map(|s| s.count.max(0)).max().unwrap_or(0);

        for (i, s) in stages.iter().enumerate() {
            let cy = top + slot * (i as f64 + 0.5);
            let y0 = (cy - bar_h / 2.0).round() as i32;
            let y1 = ((cy + bar_h / 2.0).round() as i32).max(y0 + 1);
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
            return draw_frame(area, MARGIN, PLOT_TOP, W - MARGIN, H - MARGIN);
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
        let plot = Plot {
            left: MARGIN + axis.label_w + GAP,
            right: W - MARGIN,
            top: PLOT_TOP,
            bottom: H - X_LABEL_H,
            lo: axis.lo,
            hi: axis.hi,
        };
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
            return draw_frame(area, MARGIN, PLOT_TOP, W - MARGIN, H - MARGIN);
        }
        // Headroom above the tallest bar for its value label.
        let axis = YAxis::new(items.iter().map(|(_, v)| *v), 1.1, y_format)?;
        let left = MARGIN + axis.label_w + GAP;
        let n = items.len();
        let slot = (W - MARGIN - left).max(1) as f64 / n as f64;
        let (label_size, labels) = category_labels(items.iter().map(|(l, _)| l.as_str()), slot)?;
        let two_lines = labels.iter().any(|l| l.len() > 1);
        let plot = Plot {
            left,
            right: W - MARGIN,
            top: PLOT_TOP,
            bottom: H - if two_lines {
                X_LABEL_H + LINE_H
            } else {
                X_LABEL_H
            },
            lo: axis.lo,
            hi: axis.hi,
        };
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
        while value_size > MIN_SIZE {
            let mut widest = 0;
            for v in &values {
                widest = widest.max(text_width(v, value_size)?);
            }
            if widest <= max_value_w {
                break;
            }
            value_size -= 1.0;
        }

        for (i, (_, v)) in items.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let cx = x_at(i);
            let x0 = (cx - bar_w / 2.0).round() as i32;
            let x1 = ((cx + bar_w / 2.0).round() as i32).max(x0 + 1);
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

// ---------------------------------------------------------------------------------------------
// Layout constants and palette.

const W: i32 = WIDTH as i32;
const H: i32 = HEIGHT as i32;
const MARGIN: i32 = 24;
const GAP: i32 = 10;
const TITLE_SIZE: f64 = 20.0;
const TITLE_BASELINE: i32 = 38;
/// Top of the plotting area: below the title row.
const PLOT_TOP: i32 = 70;
/// Room under the plotting area for one line of category or bucket labels.
const X_LABEL_H: i32 = 44;
/// Baseline of the first label line below the plot, and the distance between label lines.
const X_LABEL_BASELINE: i32 = 26;
const LINE_H: i32 = 20;
/// Category labels may shrink this far before they are cut.
const MIN_CATEGORY_SIZE: f64 = 14.0;
/// Least blank space between neighbouring labels.
const LABEL_SPACING: i32 = 8;
const TICK_SIZE: f64 = 16.0;
/// Below this text stops being legible; labels are cut rather than shrunk further.
const MIN_SIZE: f64 = 11.0;
const SWATCH_W: i32 = 20;
/// Tallest funnel row: bars thicker than this read as blocks, not bars.
const MAX_ROW_H: f64 = 72.0;
const MAX_STAGE_LABEL_W: i32 = 220;
const MAX_VALUE_LABEL_W: i32 = 280;
const MAX_LEGEND_NAME_W: i32 = 200;
const MAX_X_LABEL_W: i32 = 140;

// A muted palette (slate text, pale grid, desaturated blue and orange) reads well on both of
// Discord's themes because the chart carries its own white background.
const BG: RGBColor = RGBColor(255, 255, 255);
const TEXT: RGBColor = RGBColor(55, 65, 81);
const MUTED: RGBColor = RGBColor(107, 114, 128);
const GRID: RGBColor = RGBColor(229, 231, 235);
const AXIS: RGBColor = RGBColor(156, 163, 175);
const TRACK: RGBColor = RGBColor(241, 243, 246);
const BAR: RGBColor = RGBColor(84, 122, 165);

/// Line and marker colour of the `k`th series. Markers are darker than their line (and used
/// nowhere else), which keeps points visible where the line is steep and lets tests count them.
fn palette(k: usize) -> (RGBColor, RGBColor) {
    const SERIES: [(RGBColor, RGBColor); 4] = [
        (RGBColor(84, 122, 165), RGBColor(45, 78, 120)),
        (RGBColor(221, 140, 82), RGBColor(168, 90, 38)),
        (RGBColor(106, 159, 116), RGBColor(58, 110, 70)),
        (RGBColor(150, 120, 170), RGBColor(100, 70, 125)),
    ];
    SERIES[k % SERIES.len()]
}

// ---------------------------------------------------------------------------------------------
// Font and text.

/// WenQuanYi Micro Hei: one face covering Latin and CJK, so mixed labels such as "赢单 Won"
/// need no fallback chain. The .ttc's first face (index 0) is the proportional one.
static FONT: &[u8] = include_bytes!("wqy-microhei.ttc");

/// The built-in font, parsed once per process.
fn face() -> Result<&'static FontRef<'static>, ChartError> {
    static FACE: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice_and_index(FONT, 0).ok())
        .as_ref()
        .ok_or_else(|| ChartError::Render("the built-in font could not be parsed".into()))
}

/// Sizes are CSS-like pixels per em, so "16 px" here looks like 16 px text in Discord.
fn scaled(size: f64) -> Result<PxScaleFont<&'static FontRef<'static>>, ChartError> {
    let font = face()?;
    let em = font.units_per_em().unwrap_or(1000.0);
    Ok(font.as_scaled(PxScale::from(size as f32 * font.height_unscaled() / em)))
}

/// Width of `text` in pixels: the sum of advances and kerning, as it will be drawn.
fn text_width(text: &str, size: f64) -> Result<i32, ChartError> {
    let font = scaled(size)?;
    let mut width = 0.0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        prev = Some(id);
    }
    Ok(width.ceil() as i32)
}

/// Labels come from users: control characters (a pasted newline, a tab) would draw as boxes.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The label as is when it fits `max_w` pixels, else its longest prefix followed by "…".
fn fit(text: &str, size: f64, max_w: i32) -> Result<String, ChartError> {
    let text = clean(text);
    if text_width(&text, size)? <= max_w {
        return Ok(text);
    }
    // No label of more than a few hundred characters can fit; skip measuring the rest.
    let chars: Vec<char> = text.chars().take(400).collect();
    let cut = |n: usize| format!("{}…", chars[..n].iter().collect::<String>().trim_end());
    // Width grows with the prefix length, so binary search for the longest prefix that fits.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if text_width(&cut(mid), size)? <= max_w {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if lo == 0 {
        return Ok(if text_width("…", size)? <= max_w {
            "…".into()
        } else {
            String::new()
        });
    }
    Ok(cut(lo))
}

/// Font size for rows `slot` pixels tall: as large as reads well, smaller only when rows are
/// packed so tightly that labels would touch.
fn label_size(slot: f64) -> f64 {
    (slot * 0.5).clamp(MIN_SIZE, 16.0).floor()
}

/// Which end of the text the x coordinate given to [`draw_text`] is.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

/// Draws one line of text with its baseline at `baseline`.
///
/// Glyphs are rasterized with ab_glyph here instead of through plotters' text support, which
/// drops each glyph's left side bearing and rounds the pen to whole pixels (visible as "Revenu e"
/// at 16 px); plotters still owns the canvas, each covered pixel is blended through it.
fn draw_text(
    area: &Area,
    text: &str,
    x: i32,
    baseline: i32,
    size: f64,
    color: RGBColor,
    align: Align,
) -> Result<(), ChartError> {
    if text.is_empty() {
        return Ok(());
    }
    let font = scaled(size)?;
    let width = text_width(text, size)? as f32;
    let start = match align {
        Align::Left => x as f32,
        Align::Center => x as f32 - width / 2.0,
        Align::Right => x as f32 - width,
    };
    let mut pen = start.round();
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            pen += font.kern(p, id);
        }
        let glyph = id.with_scale_and_position(font.scale(), point(pen, baseline as f32));
        if let Some(outline) = font.outline_glyph(glyph) {
            let min = outline.px_bounds().min;
            let mut result = Ok(());
            outline.draw(|gx, gy, coverage| {
                if result.is_ok() && coverage > 0.0 {
                    let at = (min.x as i32 + gx as i32, min.y as i32 + gy as i32);
                    result = area.draw_pixel(at, &color.mix(coverage.min(1.0) as f64));
                }
            });
            result.map_err(render_err)?;
        }
        pen += font.h_advance(id);
        prev = Some(id);
    }
    Ok(())
}

/// Where mixed Latin and CJK text looks vertically centred, in ems above its baseline: about half
/// the Latin cap height (0.71 em in this font), a little under half the ideographs' height.
const CENTER_ABOVE_BASELINE: f64 = 0.36;

/// Baseline that centres a line of text of `size` on `cy`.
fn baseline_for_center(cy: f64, size: f64) -> i32 {
    (cy + CENTER_ABOVE_BASELINE * size).round() as i32
}

fn draw_title(area: &Area, title: &str, max_w: i32) -> Result<(), ChartError> {
    let title = fit(title, TITLE_SIZE, max_w)?;
    draw_text(
        area,
        &title,
        MARGIN,
        TITLE_BASELINE,
        TITLE_SIZE,
        TEXT,
        Align::Left,
    )
}

// ---------------------------------------------------------------------------------------------
// Drawing helpers.

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn render_err(e: impl std::fmt::Display) -> ChartError {
    ChartError::Render(e.to_string())
}

/// Draws into a fresh white canvas and returns it as PNG bytes.
fn render(draw: impl FnOnce(&Area) -> Result<(), ChartError>) -> Result<Vec<u8>, ChartError> {
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
fn fill_rect(
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

fn hline(area: &Area, x0: i32, x1: i32, y: i32, color: RGBColor) -> Result<(), ChartError> {
    area.draw(&PathElement::new(
        vec![(x0, y), (x1, y)],
        ShapeStyle::from(color),
    ))
    .map_err(render_err)
}

/// The empty state: a pale frame where the data would be, under the caller's title.
fn draw_frame(area: &Area, x0: i32, y0: i32, x1: i32, y1: i32) -> Result<(), ChartError> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], GRID.stroke_width(2)))
        .map_err(render_err)
}

/// Tick values covering `lo..=hi` with about `target` intervals, at a 1-2-2.5-5 step no finer
/// than `min_step`: round numbers a reader can interpolate between.
fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> Vec<f64> {
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
struct YAxis {
    ticks: Vec<(f64, String)>,
    label_w: i32,
    lo: f64,
    hi: f64,
}

impl YAxis {
    /// An axis for `values` (finite ones only), always including zero: bars and money trends are
    /// read against zero, and a small rise must not be drawn as a cliff. `headroom` stretches the
    /// far ends to leave room for value labels.
    fn new(
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

    /// Grid lines at each tick, a stronger zero line, and the labels right-aligned on the left.
    fn draw(&self, area: &Area, plot: &Plot) -> Result<(), ChartError> {
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
struct Plot {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    lo: f64,
    hi: f64,
}

impl Plot {
    fn width(&self) -> i32 {
        (self.right - self.left).max(1)
    }

    fn y(&self, v: f64) -> i32 {
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        (self.bottom as f64 - t * (self.bottom - self.top) as f64).round() as i32
    }
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
    let mut widest = 0;
    for l in labels {
        widest = widest.max(text_width(&clean(l), TICK_SIZE)?.min(MAX_X_LABEL_W));
    }
    let step = ((widest + LABEL_SPACING) as f64 / slot.max(1.0))
        .ceil()
        .max(1.0) as usize;
    let max_w = ((slot * step as f64) as i32 - LABEL_SPACING).clamp(1, MAX_X_LABEL_W);
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
    let mut widest = 0;
    for l in &labels {
        widest = widest.max(text_width(&clean(l), TICK_SIZE)?.min(MAX_X_LABEL_W));
    }
    let step = ((widest + LABEL_SPACING) as f64 / slot.max(1.0))
        .ceil()
        .max(1.0) as usize;
    let max_w = ((slot * step as f64) as i32 - LABEL_SPACING).clamp(1, MAX_X_LABEL_W);
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

/// `text` on one line if it fits `max_w`, else on two: the first breaks at the last space (or
/// CJK character) that fits, and each line is cut with "…" if still too long. The flag says
/// whether anything was cut.
fn wrap2(text: &str, size: f64, max_w: i32) -> Result<(Vec<String>, bool), ChartError> {
    let text = clean(text);
    if text_width(&text, size)? <= max_w {
        return Ok((vec![text], false));
    }
    let chars: Vec<char> = text.chars().take(400).collect();
    let wide = |c: char| c >= '\u{2E80}';
    // Break opportunities: after a space or slash, and on either side of a CJK character (not
    // after a hyphen: "add-" / "on" reads worse than "API" / "add-on").
    let breaks = (1..chars.len()).filter(|&i| {
        let (a, b) = (chars[i - 1], chars[i]);
        a == ' ' || a == '/' || wide(a) || wide(b)
    });
    let mut best = None;
    for i in breaks {
        let head: String = chars[..i].iter().collect();
        if text_width(head.trim_end(), size)? <= max_w {
            best = Some(i);
        } else {
            break;
        }
    }
    // No break fits: the first word alone is too long, so it is cut and the rest goes below.
    let split = match best {
        Some(i) => i,
        None => chars.iter().position(|&c| c == ' ').unwrap_or(chars.len()),
    };
    let head: String = chars[..split]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_string();
    let tail: String = chars[split..]
        .iter()
        .collect::<String>()
        .trim_start()
        .to_string();
    let mut lines = vec![fit(&head, size, max_w)?];
    let mut cut = lines[0] != head;
    if !tail.is_empty() {
        let second = fit(&tail, size, max_w)?;
        cut |= second != tail;
        lines.push(second);
    }
    Ok((lines, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// A decoded chart, checked to be a PNG of the chart size.
    struct Image {
        rgb: Vec<u8>,
    }

    impl Image {
        fn decode(png_bytes: &[u8]) -> Image {
            assert!(png_bytes.starts_with(&PNG_SIGNATURE), "not a PNG");
            let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
                .read_info()
                .expect("PNG header");
            let mut rgb = vec![0; reader.output_buffer_size().expect("buffer size")];
            let info = reader.next_frame(&mut rgb).expect("PNG data");
            assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
            assert_eq!(info.color_type, png::ColorType::Rgb);
            rgb.truncate(info.buffer_size());
            Image { rgb }
        }

        fn at(&self, x: i32, y: i32) -> RGBColor {
            let i = ((y * W + x) * 3) as usize;
            RGBColor(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
        }

        fn is(&self, x: i32, y: i32, c: RGBColor) -> bool {
            let p = self.at(x, y);
            (p.0, p.1, p.2) == (c.0, c.1, c.2)
        }

        /// Runs of `c` along a line of pixels: how many separate bars a scan line crosses.
        fn runs(&self, pixels: impl Iterator<Item = (i32, i32)>, c: RGBColor) -> usize {
            let mut runs = 0;
            let mut inside = false;
            for (x, y) in pixels {
                let hit = self.is(x, y, c);
                if hit && !inside {
                    runs += 1;
                }
                inside = hit;
            }
            runs
        }

        /// Separate blobs of exactly `c` (4-connected): how many point markers were drawn.
        fn blobs(&self, c: RGBColor) -> usize {
            let mut seen = vec![false; (W * H) as usize];
            let mut count = 0;
            for start in 0..W * H {
                if seen[start as usize] || !self.is(start % W, start / W, c) {
                    continue;
                }
                count += 1;
                let mut stack = vec![start];
                seen[start as usize] = true;
                while let Some(p) = stack.pop() {
                    let (x, y) = (p % W, p / W);
                    for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] {
                        let q = ny * W + nx;
                        if (0..W).contains(&nx)
                            && (0..H).contains(&ny)
                            && !seen[q as usize]
                            && self.is(nx, ny, c)
                        {
                            seen[q as usize] = true;
                            stack.push(q);
                        }
                    }
                }
            }
            count
        }

        fn count(&self, c: RGBColor) -> usize {
            (0..W * H).filter(|p| self.is(p % W, p / W, c)).count()
        }

        /// Pixels that differ from the background inside a rectangle.
        fn ink(&self, x0: i32, y0: i32, x1: i32, y1: i32) -> usize {
            let mut n = 0;
            for y in y0..y1 {
                for x in x0..x1 {
                    n += usize::from(!self.is(x, y, BG));
                }
            }
            n
        }

        /// The first column, from the left, holding a pixel of `c`.
        fn first_column_with(&self, c: RGBColor) -> Option<i32> {
            (0..W).find(|&x| (0..H).any(|y| self.is(x, y, c)))
        }

        /// The lowest row holding a pixel of `c`.
        fn last_row_with(&self, c: RGBColor) -> Option<i32> {
            (0..H).rev().find(|&y| (0..W).any(|x| self.is(x, y, c)))
        }
    }

    fn money(v: f64) -> String {
        let digits = (v.abs().round() as u64).to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{}${grouped}", if v < 0.0 { "-" } else { "" })
    }

    fn stage(label: &str, count: i64) -> FunnelBar {
        FunnelBar {
            label: label.into(),
            count,
            value_label: format!("{count} · {} · {}%", money(count as f64 * 1000.0), count),
        }
    }

    const CJK_STAGES: [&str; 5] = ["线索", "资格确认", "方案", "谈判", "赢单"];

    fn cjk_funnel() -> Vec<FunnelBar> {
        CJK_STAGES
            .iter()
            .zip([120, 74, 41, 22, 12])
            .map(|(l, c)| stage(l, c))
            .collect()
    }

    fn weeks(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("W{}", (i + 47) % 52 + 1)).collect()
    }

    /// Bars are counted down a vertical line just inside their common left edge.
    fn funnel_bars(img: &Image) -> usize {
        match img.first_column_with(BAR) {
            Some(x) => img.runs((0..H).map(|y| (x + 1, y)), BAR),
            None => 0,
        }
    }

    /// Bars are counted along a horizontal line just above the zero line they all stand on.
    fn vertical_bars(img: &Image) -> usize {
        match img.last_row_with(BAR) {
            Some(y) => img.runs((0..W).map(|x| (x, y - 1)), BAR),
            None => 0,
        }
    }

    #[test]
    fn the_built_in_font_is_index_0_of_the_collection_and_covers_cjk() {
        let font = face().expect("font parses");
        for c in "线索资格确认方案谈判赢单…·$0123456789ABCabc".chars() {
            assert_ne!(font.glyph_id(c).0, 0, "no glyph for {c:?}");
        }
        // Index 0 is the proportional face: "i" is narrower than "M".
        assert!(text_width("iiii", 16.0).unwrap() < text_width("MMMM", 16.0).unwrap());
    }

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
    fn empty_input_draws_the_title_and_an_empty_frame() {
        for png_bytes in [
            funnel("Funnel: no data", &[]).unwrap(),
            trend("Trend: no data", &[], &[], &money).unwrap(),
            trend("Trend: no data", &weeks(4), &[], &money).unwrap(),
            trend(
                "Trend: no data",
                &weeks(4),
                &[Series {
                    name: "Won".into(),
                    values: vec![],
                }],
                &money,
            )
            .unwrap(),
            trend(
                "Trend: no data",
                &weeks(2),
                &[Series {
                    name: "Won".into(),
                    values: vec![f64::NAN, f64::NAN],
                }],
                &money,
            )
            .unwrap(),
            bars("Bars: no data", &[], &money).unwrap(),
        ] {
            let img = Image::decode(&png_bytes);
            assert!(img.ink(0, 0, W, PLOT_TOP - 10) > 100, "title drawn");
            assert!(img.count(GRID) > 1000, "frame drawn");
            assert_eq!(img.count(BAR), 0);
            assert_eq!(img.blobs(palette(0).1), 0);
        }
    }

    #[test]
    fn all_zero_values_render() {
        let zero = [stage("Lead", 0), stage("Won", 0)];
        let img = Image::decode(&funnel("Funnel", &zero).unwrap());
        assert_eq!(funnel_bars(&img), 0);
        assert!(img.count(TRACK) > 1000, "each stage keeps its row");

        let s = Series {
            name: "Won".into(),
            values: vec![0.0; 12],
        };
        let img = Image::decode(&trend("Trend", &weeks(12), &[s], &money).unwrap());
        assert_eq!(img.blobs(palette(0).1), 12);

        let items = [("A".to_string(), 0.0), ("B".to_string(), 0.0)];
        Image::decode(&bars("Bars", &items, &money).unwrap());
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let stages = [
            stage("Lead", i64::MAX),
            stage("Won", i64::MIN),
            stage("Lost", -5),
        ];
        Image::decode(&funnel("Funnel", &stages).unwrap());
        for v in [f64::MAX, f64::MIN, f64::MIN_POSITIVE, 1e-300, -1e300] {
            let items = [("A".to_string(), v), ("B".to_string(), 1.0)];
            Image::decode(&bars("Bars", &items, &money).unwrap());
            let s = Series {
                name: "S".into(),
                values: vec![v, 0.0, 1.0],
            };
            Image::decode(&trend("Trend", &weeks(3), &[s], &money).unwrap());
        }
        let items = [
            ("Negative".to_string(), -20_000.0),
            ("Positive".to_string(), 10.0),
        ];
        Image::decode(&bars("Bars", &items, &money).unwrap());
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(
            funnel("漏斗", &cjk_funnel()).unwrap(),
            funnel("漏斗", &cjk_funnel()).unwrap()
        );
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis_to_fit() {
        let long = "Enterprise annual subscription with premium support and onboarding";
        let cut = fit(long, 16.0, 120).unwrap();
        assert!(cut.ends_with('…'), "{cut}");
        assert!(text_width(&cut, 16.0).unwrap() <= 120);
        assert_eq!(fit("Lead", 16.0, 120).unwrap(), "Lead");
        assert_eq!(
            fit("a\nb", 16.0, 120).unwrap(),
            "a b",
            "control characters become spaces"
        );
        assert_eq!(fit("Anything", 16.0, 2).unwrap(), "");

        let (lines, cut) = wrap2("Team plan", 16.0, 50).unwrap();
        assert_eq!(
            (lines, cut),
            (vec!["Team".to_string(), "plan".to_string()], false)
        );
        let (lines, cut) = wrap2(long, 16.0, 60).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(cut);
        assert!(lines.iter().all(|l| text_width(l, 16.0).unwrap() <= 60));
        let (lines, _) = wrap2("企业版年度订阅", 16.0, 60).unwrap();
        assert_eq!(lines[0], "企业版");
    }

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
