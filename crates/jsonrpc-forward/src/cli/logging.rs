//! Log set-up: text or JSON lines, on stderr or appended to a file.
//!
//! JSON is for log shippers (one object per line, `timestamp`, `level`, `message` and the
//! event's fields at the top level); the file is for hosts that drop a server's stderr.
//! Either way nothing is ever written to stdout, which carries the protocol.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::fmt::writer::BoxMakeWriter;

use super::CliError;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's logger at `level`, in `format`, to `file` (appended) or stderr.
/// A logger already installed (a second bridge in the same process) is kept.
///
/// # Errors
///
/// [`CliError::LogFile`] when `file` cannot be opened for appending.
pub(crate) fn init(
    level: tracing::Level,
    format: LogFormat,
    file: Option<&Path>,
) -> Result<(), CliError> {
    use std::io::IsTerminal;
    let (writer, ansi) = match file {
        Some(path) => (BoxMakeWriter::new(Mutex::new(open(path)?)), false),
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(level)
        .with_target(false);
    // `try_init` fails only when a logger is installed already: that one stays.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

/// Opens `path` for appending, creating it readable and writable by its owner only: log
/// lines hold no secrets, but they do hold URLs, tool names and timings. Unbuffered: each
/// line is one `write` (whole lines even when two bridges share the file), and nothing is
/// lost when the process exits without running destructors.
fn open(path: &Path) -> Result<File, CliError> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| CliError::LogFile {
        path: PathBuf::from(path),
        reason: e.to_string(),
    })
}
