//! The invocations of a binary the documentation gives, for the binary's test that every
//! one parses: README.md, the Makefile and docs/*.md (not the images or results beside
//! them).

use std::path::Path;

/// `(document, invocation)` for every `<binary> <subcommand> ...` in the documents of the
/// workspace at `root`, cut at the end of its code span, table cell, line or sentence.
///
/// # Panics
/// When a document cannot be read.
pub fn invocations(root: &Path, binary: &str) -> Vec<(String, String)> {
    let mut documents = vec![root.join("README.md"), root.join("Makefile")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("an entry of docs/").path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    let start = format!("{binary} ");
    let mut found = Vec::new();
    for path in documents {
        let text = std::fs::read_to_string(&path).expect("a readable document");
        for (at, _) in text.match_indices(&start) {
            let preceded = text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
            let rest = &text[at..];
            let end = rest.find(['`', '|', '\n', ')', ';']).unwrap_or(rest.len());
            let invocation = rest[..end].trim_end();
            let subcommand = invocation.split_whitespace().nth(1).unwrap_or_default();
            if preceded || !subcommand.chars().all(|c| c.is_ascii_lowercase()) {
                continue;
            }
            found.push((path.display().to_string(), invocation.to_owned()));
        }
    }
    found
}

/// Parses every invocation of `binary` the documentation gives with `parse` (a clap
/// parser's `try_parse_from`, its result dropped), after `fill` replaced placeholders; a
/// word that only looks like a subcommand (`bench right after`) is skipped. How many
/// parsed.
///
/// # Panics
/// On an invocation that names a subcommand and does not parse, saying where it is.
pub fn parse_every_invocation(
    root: &Path,
    binary: &str,
    fill: impl Fn(&str) -> String,
    parse: impl Fn(&[&str]) -> Result<(), clap::Error>,
) -> usize {
    let mut parsed = 0;
    for (path, invocation) in invocations(root, binary) {
        let invocation = fill(&invocation);
        let words: Vec<&str> = invocation.split_whitespace().collect();
        match parse(&words) {
            Ok(()) => parsed += 1,
            Err(error) if error.kind() == clap::error::ErrorKind::InvalidSubcommand => {}
            Err(error) => panic!("{path}: `{invocation}` does not parse: {error}"),
        }
    }
    parsed
}
