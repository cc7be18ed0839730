//! The hand-written type declarations of the bindings (`include/libpublisher.h` is generated,
//! but its constants are named by hand; `_native.pyi` and `index.d.ts` are written by hand)
//! name exactly what the core's tables name: event names, state names and codes, option keys.
//! A name added to the core and forgotten in one declaration fails here.

use std::collections::BTreeSet;

use libpublisher::session::SESSION_OPTION_DOCS;
use libpublisher::settings::{
    camel_case, snake_case, OptionDoc, KNOWN_KEYS, PUBLISHER_OPTION_DOCS,
};
use libpublisher::{
    PublisherState, SessionState, PUBLISHER_EVENT_NAMES, SESSION_EVENT_NAMES, SESSION_OPTION_KEYS,
};

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The text from the line starting with `start` to the first line that starts with `end`.
fn block<'a>(text: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(start));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no line starting with {start:?}"));
    std::iter::once(first)
        .chain(lines.take_while(|l| !l.starts_with(end)))
        .collect()
}

/// Every string in quotes (`"…"` or `'…'`) in `lines`.
fn quoted(lines: &[&str]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in lines {
        for quote in ['"', '\''] {
            let parts: Vec<&str> = line.split(quote).collect();
            for inside in parts.iter().skip(1).step_by(2).take(parts.len() / 2) {
                found.insert((*inside).to_owned());
            }
        }
    }
    found
}

/// The member names (`  name:` / `    name:` / `  name?:`) declared in `lines`.
fn members(lines: &[&str], indent: usize) -> BTreeSet<String> {
    lines
        .iter()
        .skip(1)
        .filter(|l| l.len() > indent && l[..indent].trim().is_empty())
        .map(|l| &l[indent..])
        .filter_map(|l| {
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let rest = &l[name.len()..];
            (!name.is_empty() && (rest.starts_with(':') || rest.starts_with("?:"))).then_some(name)
        })
        .collect()
}

fn set(names: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    names.into_iter().map(Into::into).collect()
}

#[test]
fn python_stubs_name_what_the_core_names() {
    let pyi = read("bindings-python/python/libpublisher/_native.pyi");
    let snake = |names: &[&str]| set(names.iter().map(|n| snake_case(n)));
    assert_eq!(
        quoted(&block(&pyi, "EventName = Literal[", "]")),
        snake(PUBLISHER_EVENT_NAMES)
    );
    assert_eq!(
        quoted(&block(&pyi, "SessionEventName = Literal[", "]")),
        snake(SESSION_EVENT_NAMES)
    );
    assert_eq!(
        quoted(&block(&pyi, "PublisherState = Literal[", "P")[..1]),
        set(PublisherState::ALL.map(PublisherState::as_str))
    );
    assert_eq!(
        quoted(&block(&pyi, "SessionState = Literal[", "S")[..1]),
        set(SessionState::ALL.map(SessionState::as_str))
    );
    assert_eq!(
        members(&block(&pyi, "class SessionOptions(", "class "), 4),
        set(SESSION_OPTION_KEYS.iter().copied())
    );
    // The publisher options are the core's keys plus the consent callback.
    let mut publisher_keys = set(KNOWN_KEYS.iter().copied());
    publisher_keys.insert("access_request".into());
    assert_eq!(
        members(&block(&pyi, "class PublisherOptions(", "class "), 4),
        publisher_keys
    );
}

#[test]
fn node_declarations_name_what_the_core_names() {
    let dts = read("bindings-node/index.d.ts");
    assert_eq!(
        members(&block(&dts, "export interface PublisherEventMap", "}"), 2),
        set(PUBLISHER_EVENT_NAMES.iter().copied())
    );
    assert_eq!(
        members(&block(&dts, "export interface SessionEventMap", "}"), 2),
        set(SESSION_EVENT_NAMES.iter().copied())
    );
    assert_eq!(
        quoted(&block(&dts, "export type PublisherState =", "e")[..1]),
        set(PublisherState::ALL.map(PublisherState::as_str))
    );
    assert_eq!(
        quoted(&block(&dts, "export type SessionState =", "e")[..1]),
        set(SessionState::ALL.map(SessionState::as_str))
    );
    // The publisher options are the core's keys, camelCase, plus the consent callback.
    let mut publisher_keys = set(KNOWN_KEYS.iter().map(|k| camel_case(k)));
    publisher_keys.insert("accessRequest".into());
    assert_eq!(
        members(&block(&dts, "export interface PublisherOptions", "}"), 2),
        publisher_keys
    );
    assert_eq!(
        members(&block(&dts, "export interface SessionOptions", "}"), 2),
        set(SESSION_OPTION_KEYS.iter().map(|k| camel_case(k)))
    );
}

#[test]
fn c_header_names_what_the_core_names() {
    let header = read("include/libpublisher.h");
    let define = |name: &str| -> i32 {
        let prefix = format!("#define {name} ");
        header
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} in the header"))
            .trim()
            .parse()
            .unwrap()
    };
    for state in PublisherState::ALL {
        let name = format!("LP_PUBLISHER_{}", state.as_str().to_ascii_uppercase());
        assert_eq!(define(&name), state.code(), "{name}");
    }
    for state in SessionState::ALL {
        let name = format!("LP_SESSION_{}", state.as_str().to_ascii_uppercase());
        assert_eq!(define(&name), state.code(), "{name}");
    }
    for (callbacks, events) in [
        (
            "typedef struct lp_publisher_callbacks",
            PUBLISHER_EVENT_NAMES,
        ),
        ("typedef struct lp_session_callbacks", SESSION_EVENT_NAMES),
    ] {
        let declared: BTreeSet<String> = block(&header, callbacks, "}")
            .iter()
            .filter_map(|l| l.trim().strip_prefix("void (*on_"))
            .filter_map(|l| l.split(')').next())
            .map(|n| n.to_owned())
            .collect();
        assert_eq!(
            declared,
            set(events.iter().map(|e| snake_case(e))),
            "{callbacks}"
        );
    }
}

/// The comment above the declaration of `member` (the first line that starts with it, after
/// `after`): the lines right above it that start with one of `comment` markers.
fn doc_of(text: &str, after: &str, member: &str, comment: &[&str]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(after))
        .unwrap_or_else(|| panic!("no {after:?}"));
    let at = (start..lines.len())
        .find(|&i| lines[i].trim_start().starts_with(member))
        .unwrap_or_else(|| panic!("no {member:?} after {after:?}"));
    let mut doc: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .take_while(|l| comment.iter().any(|c| l.trim_start().starts_with(c)))
        .copied()
        .collect();
    doc.reverse();
    doc.join(" ")
}

/// What the core says of an option (its default, its range) is what the declaration says.
fn check_doc(where_: &str, doc: &str, option: &OptionDoc) {
    let words: Vec<String> = doc
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .map(|w| w.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    if let Some(default) = option.default {
        let default = default.to_ascii_lowercase();
        assert!(
            words.iter().any(|w| w == "default") && words.contains(&default),
            "{where_} {}: the doc does not give the default {default}: {doc:?}",
            option.key
        );
    }
    if let Some((min, max)) = option.range {
        assert!(
            doc.contains(&format!("{min}..{max}")),
            "{where_} {}: the doc does not give the range {min}..{max}: {doc:?}",
            option.key
        );
    }
}

#[test]
fn declarations_tell_the_defaults_and_ranges_the_core_applies() {
    let dts = read("bindings-node/index.d.ts");
    let pyi = read("bindings-python/python/libpublisher/_native.pyi");
    let header = read("include/libpublisher.h");
    for (docs, interface, c_prefix) in [
        (
            PUBLISHER_OPTION_DOCS,
            "export interface PublisherOptions",
            "lp_publisher_settings_set_",
        ),
        (
            SESSION_OPTION_DOCS,
            "export interface SessionOptions",
            "lp_session_settings_set_",
        ),
    ] {
        for option in docs {
            let member = format!("{}?:", camel_case(option.key));
            check_doc(
                "index.d.ts",
                &doc_of(&dts, interface, &member, &["/**", "*"]),
                option,
            );
            // C: the setter of each option that has one (ICE servers are added one by one).
            let setter = format!("int32_t {c_prefix}{}(", option.key);
            if header.contains(&setter) {
                check_doc(
                    "libpublisher.h",
                    &doc_of(&header, "", &setter, &["//"]),
                    option,
                );
            }
        }
    }
    for (docs, class) in [
        (PUBLISHER_OPTION_DOCS, "class PublisherOptions("),
        (SESSION_OPTION_DOCS, "class SessionOptions("),
    ] {
        for option in docs {
            let member = format!("{}:", option.key);
            check_doc(
                "_native.pyi",
                &doc_of(&pyi, class, &member, &["#:"]),
                option,
            );
        }
    }
}

/// Python spells the push calls' defaults as literals (so that `help()` shows them), and the
/// stubs and `.d.ts` tell them: they must be the core's.
#[test]
fn push_defaults_are_the_cores() {
    use libpublisher::media::frame::{DEFAULT_CHANNELS, DEFAULT_SAMPLE_RATE, DEFAULT_VIDEO_FORMAT};
    let source = read("bindings-python/src/publisher.rs");
    let pyi = read("bindings-python/python/libpublisher/_native.pyi");
    let format = DEFAULT_VIDEO_FORMAT.as_str();
    for expected in [
        format!("format=\"{format}\""),
        format!("sample_rate={DEFAULT_SAMPLE_RATE}"),
        format!("channels={DEFAULT_CHANNELS}"),
    ] {
        assert!(source.contains(&expected), "publisher.rs lacks {expected}");
    }
    for expected in [
        format!("] = \"{format}\","),
        format!("sample_rate: int = {DEFAULT_SAMPLE_RATE},"),
        format!("channels: int = {DEFAULT_CHANNELS},"),
    ] {
        assert!(pyi.contains(&expected), "_native.pyi lacks {expected}");
    }
    let dts = read("bindings-node/index.d.ts");
    for expected in [
        format!("/** Default `'{format}'`. */"),
        format!("default {DEFAULT_SAMPLE_RATE}. */"),
        format!("/** {DEFAULT_CHANNELS} (default) or"),
    ] {
        assert!(dts.contains(&expected), "index.d.ts lacks {expected}");
    }
}
