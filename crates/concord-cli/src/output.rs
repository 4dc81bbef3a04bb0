//! The runtime every Concord binary runs in, one-line errors (JSON with `--json`), key-sorted JSON or human
//! output, and duration arguments.

use serde::Serialize;
use std::future::Future;

/// Builds the tokio runtime, runs `f`, prints an error as one line (`error: ...`, or `{"error": ...}` with
/// `json`) and returns the process exit code.
pub fn run<F>(json: bool, f: F) -> std::process::ExitCode
where
    F: Future<Output = eyre::Result<()>>,
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            // Quiet unless asked (`CONCORD_LOG=debug`): errors reach the user as one line, not as library logs.
            tracing_subscriber::EnvFilter::try_from_env("CONCORD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    quiet_on_closed_pipe();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(f) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let msg = e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            if json {
                println!("{}", serde_json::json!({ "error": msg }));
            } else {
                eprintln!("error: {msg}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// A reader that stops reading (`concord-requester status | head -3`) ends the program quietly, as with any Unix
/// tool, instead of the panic `println!` raises on a closed pipe.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Prints `value` as one key-sorted JSON object when `json`, else runs `human`.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) -> eyre::Result<()> {
    if json {
        // Through `Value` so keys come out sorted (serde_json's map is a BTreeMap).
        let v = serde_json::to_value(value)?;
        println!("{}", serde_json::to_string(&v)?);
    } else {
        human(value);
    }
    Ok(())
}

/// Parses `90s`, `30m`, `2h`, `7d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1u64),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86_400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 90s, 30m, 2h, 7d)"))?;
    u32::try_from(n * mult).map_err(|_| format!("`{s}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("15"), Ok(15));
        assert!(parse_duration("soon").is_err());
    }
}
