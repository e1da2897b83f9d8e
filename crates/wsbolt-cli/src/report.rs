//! `wsbolt bench --report FILE.html`: one self-contained page (no script,
//! no network) with the run's settings and results, throughput over time
//! and the latency distribution, drawn as inline SVG.

use std::fmt::Write;

/// What a report shows.
pub struct Report<'a> {
    /// "messages" or "handshakes".
    pub unit: &'a str,
    /// The server's URL.
    pub url: &'a str,
    /// Settings of the run, as (name, value).
    pub settings: Vec<(&'static str, String)>,
    /// Results, as (name, value).
    pub results: Vec<(&'static str, String)>,
    /// (seconds since the start, completions per second in the interval
    /// ending then).
    pub throughput: Vec<(f64, f64)>,
    /// (quantile in [0, 1), latency in µs), increasing.
    pub latency: Vec<(f64, f64)>,
}

const W: f64 = 760.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 36.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 45.0;

/// The quantiles the latency chart plots: evenly spaced on a "nines" scale
/// from 0 to 99.999%.
pub fn latency_quantiles() -> impl Iterator<Item = f64> {
    (0..=100).map(|k| 1.0 - 10f64.powf(-(k as f64) / 20.0))
}

/// The page.
pub fn render(r: &Report<'_>) -> String {
    let mut page = String::with_capacity(32 * 1024);
    let title = format!("wsbolt bench: {}", r.url);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    table(&mut page, "settings", "Settings", &r.settings);
    table(&mut page, "results", "Results", &r.results);

    let per_second = format!("{} per second", r.unit);
    let t_max = r.throughput.last().map_or(1.0, |p| p.0).max(1e-3);
    let x_ticks = ticks(t_max).into_iter().map(|t| (t, format!("{t} s"))).collect();
    page.push_str("<h2>Throughput over time</h2>\n");
    chart(
        &mut page,
        "throughput",
        &per_second,
        "time since the start",
        &r.throughput,
        (0.0, t_max),
        x_ticks,
    );

    // Latency against the quantile, on a scale where each further nine
    // (90%, 99%, 99.9% …) takes the same width.
    let nines: Vec<(f64, f64)> = r
        .latency
        .iter()
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, us)| (-(1.0 - q).log10(), *us))
        .collect();
    let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
    let x_ticks = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, l.to_string()))
        .collect();
    page.push_str("<h2>Latency distribution</h2>\n");
    chart(
        &mut page,
        "latency",
        "latency (µs)",
        "percentile",
        &nines,
        (0.0, 5.0),
        x_ticks,
    );
    page.push_str("</body></html>\n");
    page
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:2em auto;max-width:800px;color:#222}\
h1{font-size:1.3em;word-break:break-all}h2{font-size:1.1em;margin-top:1.5em}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}\
td:last-child{text-align:right;font-variant-numeric:tabular-nums}\
svg{display:block;background:#fafafa;border:1px solid #ddd}\
.grid{stroke:#e2e2e2}.axis{stroke:#666}.line{fill:none;stroke:#1f6feb;stroke-width:2}\
text{font:12px system-ui,sans-serif;fill:#444}";

fn table(page: &mut String, id: &str, caption: &str, rows: &[(&'static str, String)]) {
    let _ = write!(page, "<h2>{caption}</h2>\n<table id=\"{id}\">");
    for (k, v) in rows {
        let _ = write!(page, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    page.push_str("</table>\n");
}

/// A line chart of `points` (x within `x_range`, y from 0 to a round
/// number above the largest), with labelled grid lines.
fn chart(
    page: &mut String,
    id: &str,
    y_label: &str,
    x_label: &str,
    points: &[(f64, f64)],
    x_range: (f64, f64),
    x_ticks: Vec<(f64, String)>,
) {
    let y_max_data = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let y_ticks = ticks(if y_max_data > 0.0 { y_max_data } else { 1.0 });
    let y_max = *y_ticks.last().expect("at least one tick");
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |x: f64| LEFT + (x - x_range.0) / (x_range.1 - x_range.0) * pw;
    let sy = |y: f64| TOP + ph - y / y_max * ph;
    let _ = write!(
        page,
        "<svg id=\"{id}\" data-points=\"{}\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        points.len(),
        escape(y_label)
    );
    for y in &y_ticks {
        let py = sy(*y);
        let _ = write!(
            page,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + pw,
            LEFT - 6.0,
            py + 4.0,
            short(*y)
        );
    }
    for (x, label) in &x_ticks {
        let px = sx(*x);
        let _ = write!(
            page,
            "<line class=\"grid\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + ph,
            TOP + ph + 16.0,
            escape(label)
        );
    }
    let _ = write!(
        page,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\"/><line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        TOP + ph,
        LEFT + pw,
        TOP + ph,
        TOP + ph
    );
    page.push_str("<polyline class=\"line\" points=\"");
    for (x, y) in points {
        let _ = write!(page, "{:.1},{:.1} ", sx(*x), sy(*y));
    }
    page.push_str("\"/>");
    let _ = writeln!(
        page,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}</text></svg>",
        LEFT + pw / 2.0,
        H - 6.0,
        escape(x_label),
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        escape(y_label)
    );
}

/// Round grid values from 0 to at least `max`: steps of 1, 2 or 5 × 10ⁿ,
/// four to ten of them.
fn ticks(max: f64) -> Vec<f64> {
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| s * 5.0 >= max)
        .unwrap_or(10.0 * mag);
    let n = (max / step).ceil().max(1.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A tick label: 1500 → "1.5k", 2000000 → "2M", 0.5 → "0.5".
fn short(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if v >= 1e3 {
        format!("{}k", trim(format!("{:.2}", v / 1e3)))
    } else {
        trim(format!("{v:.2}"))
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(17_300.0), [0.0, 5000.0, 10000.0, 15000.0, 20000.0]);
        let t = ticks(0.37);
        assert!(t.last().unwrap() >= &0.37 && t.len() <= 11, "{t:?}");
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(2_000_000.0), "2M");
        assert_eq!(short(0.5), "0.5");
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_what_it_shows() {
        let r = Report {
            unit: "messages",
            url: "ws://h/<script>",
            settings: vec![("connections", "10".into())],
            results: vec![("rate", "1 <b>".into())],
            throughput: vec![(0.25, 100.0), (0.5, 120.0), (0.75, 90.0)],
            latency: latency_quantiles().map(|q| (q, 100.0 + q * 50.0)).collect(),
        };
        let page = render(&r);
        assert!(!page.contains("<script") && page.contains("ws://h/&lt;script&gt;"));
        assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("http"));
        assert!(page.contains("<svg id=\"throughput\" data-points=\"3\""));
        assert!(page.contains("<svg id=\"latency\" data-points=\"101\""));
    }
}
