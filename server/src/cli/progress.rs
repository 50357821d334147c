//! Progress bars (indicatif) for the long commands — backup, restore,
//! verify, index rebuild, export, import — drawn on stderr only when it is
//! a terminal, so scripts and logs see nothing but the final summary.
//!
//! Not here: what is measured (each command), the summaries (each command).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Whether bars are drawn (stderr is a terminal).
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

fn bar(total: u64, template: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let b = ProgressBar::new(total).with_style(style);
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

/// A bar counting bytes, with bytes/s and ETA.
pub fn bytes(what: &str, total: u64) -> ProgressBar {
    bar(
        total,
        &format!(
            "{what:>10} [{{bar:30}}] {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, eta {{eta}}) {{msg}}"
        ),
    )
}

/// A bar counting items (`unit`: events, positions...), with a rate and ETA.
pub fn count(what: &str, total: u64, unit: &str) -> ProgressBar {
    bar(
        total,
        &format!(
            "{what:>10} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
        ),
    )
}

/// A spinner counting items when the total is not known.
pub fn spinner(what: &str, unit: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(&format!(
        "{what:>10} {{spinner}} {{human_pos}} {unit} ({{per_sec}}) {{msg}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let b = ProgressBar::new_spinner().with_style(style);
    b.enable_steady_tick(Duration::from_millis(200));
    b
}
