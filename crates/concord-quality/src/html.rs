//! The report as one self-contained HTML page: inline SVG plots, no scripts, every dataset string escaped.

use crate::report::{render_text, Report};

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An inline SVG bar chart (negative values are drawn as zero-height bars with their value printed).
pub fn bar_chart(title: &str, bars: &[(String, f64)]) -> String {
    let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1.0);
    let (w, h, pad) = (40.0 * bars.len() as f64 + 60.0, 200.0, 30.0);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg width=\"{w}\" height=\"{}\" role=\"img\">",
        escape(title),
        h + 40.0
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let bh = (h - pad) * v / max;
        let x = 40.0 + 40.0 * i as f64;
        svg += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"30\" height=\"{bh}\" fill=\"#3b6ea5\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{v}</text>",
            h - bh,
            x + 15.0,
            h + 14.0,
            escape(label),
            x + 15.0,
            h - bh - 3.0
        );
    }
    svg + "</svg></figure>"
}

fn scatter(title: &str, points: &[(f64, f64, String)]) -> String {
    let max_x = points.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let (w, h) = (420.0, 220.0);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg width=\"{}\" height=\"{}\" role=\"img\"><line x1=\"40\" y1=\"{h}\" x2=\"{}\" y2=\"{h}\" stroke=\"#888\"/><line x1=\"40\" y1=\"10\" x2=\"40\" y2=\"{h}\" stroke=\"#888\"/>",
        escape(title),
        w + 20.0,
        h + 30.0,
        w
    );
    for (x, y, label) in points {
        let px = 40.0 + (w - 50.0) * x / max_x;
        let py = h - (h - 10.0) * y;
        svg += &format!("<circle cx=\"{px}\" cy=\"{py}\" r=\"5\" fill=\"#c0504d\"><title>{}: {x} answers, {:.1}%</title></circle>", escape(label), 100.0 * y);
    }
    svg += &format!("<text x=\"{}\" y=\"{}\" font-size=\"10\">answers (max {max_x})</text><text x=\"0\" y=\"10\" font-size=\"10\">100%</text>", w / 2.0, h + 25.0);
    svg + "</svg></figure>"
}

/// Self-contained HTML page (inline SVG plots, no scripts, every dataset string escaped).
pub fn render_html(r: &Report) -> String {
    let dist: Vec<(String, f64)> = r
        .label_distribution
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    let hist: Vec<(String, f64)> = r
        .agreement_histogram
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{}%", i * 10), *v as f64))
        .collect();
    let points: Vec<(f64, f64, String)> = r
        .annotators
        .iter()
        .map(|a| {
            (
                a.stats.answers as f64,
                a.stats.gold_accuracy.unwrap_or(a.stats.agreement),
                a.stats.worker.clone(),
            )
        })
        .collect();
    let mut rows = String::new();
    for a in &r.annotators {
        let s = &a.stats;
        rows += &format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
            escape(&s.worker),
            s.answers,
            100.0 * s.agreement,
            s.gold_accuracy.map(|g| format!("{:.1}%", 100.0 * g)).unwrap_or_else(|| "-".into()),
            100.0 * s.ds_accuracy,
            escape(&s.flags.join(", "))
        );
    }
    let mut looks = String::new();
    for i in &r.second_look {
        looks += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({:.2})</td><td>{}</td></tr>",
            i.index,
            escape(&i.id),
            escape(&i.text),
            escape(i.label.as_deref().unwrap_or("-")),
            escape(i.ds_label.as_deref().unwrap_or("-")),
            i.ds_confidence,
            escape(&i.reason)
        );
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Concord quality report — batch {b}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}figure{{display:inline-block;margin:1em}}</style></head><body>\
<h1>Quality report — batch {b}</h1><p>chain {chain}, market <code>{market}</code></p><pre>{text}</pre>{d}{h}{s}\
<h2>Annotators</h2><table><tr><th>address</th><th>answers</th><th>agreement</th><th>gold accuracy</th><th>DS accuracy</th><th>flags</th></tr>{rows}</table>\
<h2>Items worth a second look</h2><table><tr><th>#</th><th>id</th><th>item</th><th>label</th><th>Dawid-Skene</th><th>why</th></tr>{looks}</table></body></html>\n",
        b = r.batch_id,
        chain = r.chain_id,
        market = escape(&r.market),
        text = escape(&render_text(r)),
        d = bar_chart("label distribution", &dist),
        h = bar_chart("items per agreement level", &hist),
        s = scatter("per-annotator accuracy (gold, else agreement) vs volume", &points),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{assemble, Scores};

    #[test]
    fn html_escapes_every_dataset_string() {
        let r = assemble(1, "m", 0, &crate::sample_batch(), Scores::default());
        let html = render_html(&r);
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains("<b>item"), "item text must be escaped");
        assert!(html.contains("&lt;b&gt;item"));
        assert!(!html.contains("<script"));
    }
}
