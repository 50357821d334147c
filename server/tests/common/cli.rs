//! Running the `strata` client commands (`ls`, `read`, `backup`, `import`,
//! ...) against a test server, as an operator would: `STRATA_ADDR` set,
//! stdout and stderr captured (so no colours and no progress bars).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::{wait_output, STRATA};

/// How long one client command may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// `strata <args>` against the server at `url`, stdin empty.
pub fn cli(url: &str, args: &[&str]) -> Output {
    cli_with_stdin(url, args, None)
}

/// `strata <args>` against the server at `url`, with `stdin` piped in.
pub fn cli_with_stdin(url: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(STRATA)
        .args(args)
        .env("STRATA_ADDR", url)
        .env_remove("STRATA_DATA_DIR")
        .env_remove("NO_COLOR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata");
    if let Some(bytes) = stdin {
        let mut input = child.stdin.take().expect("stdin");
        let bytes = bytes.to_vec();
        // A thread, so a large input cannot deadlock against full pipes.
        std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
    }
    wait_output(child, TIMEOUT)
}

/// `strata import --file <file> --json` against `url`: its JSON summary.
pub fn import_file(url: &str, file: &Path) -> serde_json::Value {
    let out = cli(url, &["import", "--json", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
    json_of(&out)
}

/// The first line of stdout as JSON.
pub fn json_of(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)))
}

/// An output for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
