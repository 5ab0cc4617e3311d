//! Text on the charts: the built-in font, measuring, fitting labels with "…", wrapping them onto
//! two lines, thinning crowded axis labels, and drawing glyphs onto the canvas.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, PxScaleFont, ScaleFont};
use plotters::style::{Color, RGBColor};

use super::style::{
    render_err, Area, LABEL_SPACING, MARGIN, MAX_X_LABEL_W, TEXT, TICK_SIZE, TITLE_BASELINE,
    TITLE_SIZE,
};
use super::ChartError;

/// WenQuanYi Micro Hei: one face covering Latin and CJK, so mixed labels such as "赢单 Won"
/// need no fallback chain. The .ttc's first face (index 0) is the proportional one.
static FONT: &[u8] = include_bytes!("wqy-microhei.ttc");

/// The built-in font, parsed once per process.
pub(super) fn face() -> Result<&'static FontRef<'static>, ChartError> {
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
pub(super) fn text_width(text: &str, size: f64) -> Result<i32, ChartError> {
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

/// Labels come from users: control characters (a pasted newline, a tab) would draw as boxes,
/// and direction or zero-width characters must not reorder or hide a label.
pub(super) fn clean(text: &str) -> String {
    crate::domain::text::visible(text)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The label as is when it fits `max_w` pixels, else its longest prefix followed by "…".
pub(super) fn fit(text: &str, size: f64, max_w: i32) -> Result<String, ChartError> {
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

/// Width of the widest of `texts` at `size`, 0 for none.
pub(super) fn widest(
    texts: impl IntoIterator<Item = impl AsRef<str>>,
    size: f64,
) -> Result<i32, ChartError> {
    let mut widest = 0;
    for text in texts {
        widest = widest.max(text_width(text.as_ref(), size)?);
    }
    Ok(widest)
}

/// For axis labels `slot` pixels apart that would collide: show every `step`-th, `step` as small
/// as possible, each fitted to `max_w`. Returns `(step, max_w)`.
pub(super) fn thinning(labels: &[impl AsRef<str>], slot: f64) -> Result<(usize, i32), ChartError> {
    let widest = widest(labels.iter().map(|l| clean(l.as_ref())), TICK_SIZE)?.min(MAX_X_LABEL_W);
    let step = ((widest + LABEL_SPACING) as f64 / slot.max(1.0))
        .ceil()
        .max(1.0) as usize;
    let max_w = ((slot * step as f64) as i32 - LABEL_SPACING).clamp(1, MAX_X_LABEL_W);
    Ok((step, max_w))
}

/// Which end of the text the x coordinate given to [`draw_text`] is.
#[derive(Clone, Copy)]
pub(super) enum Align {
    Left,
    Center,
    Right,
}

/// Draws one line of text with its baseline at `baseline`.
///
/// Glyphs are rasterized with ab_glyph here instead of through plotters' text support, which
/// drops each glyph's left side bearing and rounds the pen to whole pixels (visible as "Revenu e"
/// at 16 px); plotters still owns the canvas, each covered pixel is blended through it.
pub(super) fn draw_text(
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
pub(super) const CENTER_ABOVE_BASELINE: f64 = 0.36;

/// Baseline that centres a line of text of `size` on `cy`.
pub(super) fn baseline_for_center(cy: f64, size: f64) -> i32 {
    (cy + CENTER_ABOVE_BASELINE * size).round() as i32
}

pub(super) fn draw_title(area: &Area, title: &str, max_w: i32) -> Result<(), ChartError> {
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

/// `text` on one line if it fits `max_w`, else on two: the first breaks at the last space (or
/// CJK character) that fits, and each line is cut with "…" if still too long. The flag says
/// whether anything was cut.
pub(super) fn wrap2(text: &str, size: f64, max_w: i32) -> Result<(Vec<String>, bool), ChartError> {
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
        assert_eq!(
            fit("Le\u{202E}a\u{200B}d\u{2066}", 16.0, 120).unwrap(),
            "Lead",
            "direction and zero-width characters are dropped"
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
}
