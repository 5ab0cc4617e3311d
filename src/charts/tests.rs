//! The PNG decoder and pixel counters the chart tests share, their sample inputs, and the tests
//! that hold for every chart kind.

use plotters::style::RGBColor;

use super::canvas::{palette, BAR, BG, GRID, H, PLOT_TOP, TRACK, W};
use super::{bars, funnel, trend, FunnelBar, Series, HEIGHT, WIDTH};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// A decoded chart, checked to be a PNG of the chart size.
pub(super) struct Image {
    rgb: Vec<u8>,
}

impl Image {
    pub(super) fn decode(png_bytes: &[u8]) -> Image {
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

    pub(super) fn at(&self, x: i32, y: i32) -> RGBColor {
        let i = ((y * W + x) * 3) as usize;
        RGBColor(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }

    pub(super) fn is(&self, x: i32, y: i32, c: RGBColor) -> bool {
        let p = self.at(x, y);
        (p.0, p.1, p.2) == (c.0, c.1, c.2)
    }

    /// Runs of `c` along a line of pixels: how many separate bars a scan line crosses.
    pub(super) fn runs(&self, pixels: impl Iterator<Item = (i32, i32)>, c: RGBColor) -> usize {
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
    pub(super) fn blobs(&self, c: RGBColor) -> usize {
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

    pub(super) fn count(&self, c: RGBColor) -> usize {
        (0..W * H).filter(|p| self.is(p % W, p / W, c)).count()
    }

    /// Pixels that differ from the background inside a rectangle.
    pub(super) fn ink(&self, x0: i32, y0: i32, x1: i32, y1: i32) -> usize {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                n += usize::from(!self.is(x, y, BG));
            }
        }
        n
    }

    /// The first column, from the left, holding a pixel of `c`.
    pub(super) fn first_column_with(&self, c: RGBColor) -> Option<i32> {
        (0..W).find(|&x| (0..H).any(|y| self.is(x, y, c)))
    }

    /// The lowest row holding a pixel of `c`.
    pub(super) fn last_row_with(&self, c: RGBColor) -> Option<i32> {
        (0..H).rev().find(|&y| (0..W).any(|x| self.is(x, y, c)))
    }
}

pub(super) fn money(v: f64) -> String {
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

pub(super) fn stage(label: &str, count: i64) -> FunnelBar {
    FunnelBar {
        label: label.into(),
        count,
        value_label: format!("{count} · {} · {}%", money(count as f64 * 1000.0), count),
    }
}

const CJK_STAGES: [&str; 5] = ["线索", "资格确认", "方案", "谈判", "赢单"];

pub(super) fn cjk_funnel() -> Vec<FunnelBar> {
    CJK_STAGES
        .iter()
        .zip([120, 74, 41, 22, 12])
        .map(|(l, c)| stage(l, c))
        .collect()
}

pub(super) fn weeks(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("W{}", (i + 47) % 52 + 1)).collect()
}

/// Bars are counted down a vertical line just inside their common left edge.
pub(super) fn funnel_bars(img: &Image) -> usize {
    match img.first_column_with(BAR) {
        Some(x) => img.runs((0..H).map(|y| (x + 1, y)), BAR),
        None => 0,
    }
}

/// Bars are counted along a horizontal line just above the zero line they all stand on.
pub(super) fn vertical_bars(img: &Image) -> usize {
    match img.last_row_with(BAR) {
        Some(y) => img.runs((0..W).map(|x| (x, y - 1)), BAR),
        None => 0,
    }
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
