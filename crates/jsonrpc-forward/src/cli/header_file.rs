//! `--header-file`: request headers kept in a file, so that tokens stay out of `ps` and out
//! of the host's configuration.
//!
//! One `Name: value` per line; blank lines and lines whose first non-blank character is `#`
//! are skipped; CRLF line ends and a leading UTF-8 byte order mark (Notepad's) are
//! tolerated; values are expanded as `--header` values are (`${NAME}`, see
//! [`super::expand`]). A `#` after a value is part of the value. A wrong line is named by
//! file and line number, never by its text: it may be a token with its colon missing.

use std::path::Path;

use reqwest::header::{HeaderName, HeaderValue};

use super::CliError;
use super::expand::expand_env;

/// The headers of the file at `path`, in order, values expanded.
///
/// # Errors
///
/// [`CliError::HeaderFile`] when the file cannot be read or is not UTF-8,
/// [`CliError::HeaderFileLine`] for a line that is not a valid `Name: value`, and
/// [`CliError::Expand`] for a `${NAME}` that cannot be expanded.
pub(crate) fn read(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::HeaderFile {
        path: path.to_owned(),
        // The kind only: an `InvalidData` error's text could quote the file.
        reason: if e.kind() == std::io::ErrorKind::InvalidData {
            "not UTF-8 text".to_owned()
        } else {
            e.to_string()
        },
    })?;
    parse(&text, path)
}

/// The headers of `text`, the contents of the file at `path` (named in errors).
fn parse(text: &str, path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut headers = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_error = |reason| CliError::HeaderFileLine {
            path: path.to_owned(),
            line: index + 1,
            reason,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| line_error("expected \"Name: value\""))?;
        let name = name.trim();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(line_error("invalid header name"));
        }
        let value = expand_env(value.trim()).map_err(|reason| CliError::Expand {
            place: format!("header file {} line {}", path.display(), index + 1),
            reason,
        })?;
        let value = value.trim();
        if HeaderValue::from_str(value).is_err() {
            return Err(line_error("invalid header value"));
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Vec<(String, String)>, CliError> {
        parse(text, Path::new("h.txt"))
    }

    fn line_of(error: CliError) -> usize {
        match error {
            CliError::HeaderFileLine { line, .. } => line,
            other => panic!("not a line error: {other:?}"),
        }
    }

    #[test]
    fn header_file_skips_comments_and_blank_lines_and_tolerates_crlf() {
        let text = "\u{feff}# comment\r\n\r\n  \t\r\nX-A: 1\r\n  # indented\nX-B:two # not a comment\nX-C:";
        let expected = [("X-A", "1"), ("X-B", "two # not a comment"), ("X-C", "")];
        let headers = parsed(text).expect("valid");
        assert_eq!(headers, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));
    }

    #[test]
    fn header_file_keeps_the_colons_of_a_value() {
        let headers = parsed("X-Url: http://h:1/p").expect("valid");
        assert_eq!(headers, [("X-Url".to_owned(), "http://h:1/p".to_owned())]);
    }

    #[test]
    fn header_file_names_the_wrong_line_never_its_text() {
        for (text, line) in [
            ("X-A: 1\nsecret-token-1\n", 2),
            ("\n\n: no name\n", 3),
            ("Bearer secret-token-1: x", 1),
            ("X-A: 1\r\nX-B: bad\u{7f}value secret-token-1", 2),
        ] {
            let error = parsed(text).expect_err(text);
            assert!(!error.to_string().contains("secret-token-1"), "{error}");
            assert!(error.to_string().contains("h.txt"), "{error}");
            assert_eq!(line_of(error), line, "{text:?}");
        }
    }

    #[test]
    fn header_file_reports_an_unset_variable_by_name_and_line() {
        let error = parsed("X-A: 1\nX-B: ${MCPW_UNIT_TEST_UNSET_VARIABLE}").expect_err("unset");
        let message = error.to_string();
        assert!(
            message.contains("MCPW_UNIT_TEST_UNSET_VARIABLE"),
            "{message}"
        );
        assert!(message.contains("h.txt line 2"), "{message}");
    }
}
