//! Line numbers of keys in a `recorder.toml`, for error messages: serde gives the
//! parsed values without their positions, so the text is parsed again (with spans)
//! only when an error needs a line.

use toml::de::{DeTable, DeValue};

/// One step of a path into the document: a table key or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    /// A key of a table (`setups`, `local`, `roots`).
    Key(&'a str),
    /// An element of an array.
    Index(usize),
}

/// The 1-based line of the deepest part of `path` found in `text`: the element or
/// key itself when it exists, else the nearest enclosing key that does. `None` when
/// the text does not parse or not even the first key is there.
pub(crate) fn line_of(text: &str, path: &[Seg]) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    let mut found = None;
    for seg in path {
        let value = match (seg, array) {
            (Seg::Key(key), None) => {
                let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref() == key) else {
                    break;
                };
                // The key's own line: a table's value spans its whole body.
                found = Some(k.span().start);
                v
            }
            (Seg::Index(i), Some(items)) => {
                let Some(item) = items.get(*i) else {
                    break;
                };
                found = Some(item.span().start);
                item
            }
            _ => break,
        };
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    found.map(|offset| text[..offset.min(text.len())].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "default_setup = \"a\"\n\n[setups.a]\nbase_url = \"x\"\n\n[suites.s]\nroots = [\n  \"chat\",\n  \"!chat::slow\",\n]\nexclude = [\"x\"]\n";

    #[test]
    fn finds_keys_tables_and_array_elements() {
        assert_eq!(line_of(TEXT, &[Seg::Key("default_setup")]), Some(1));
        assert_eq!(line_of(TEXT, &[Seg::Key("setups"), Seg::Key("a")]), Some(3));
        assert_eq!(
            line_of(
                TEXT,
                &[Seg::Key("setups"), Seg::Key("a"), Seg::Key("base_url")]
            ),
            Some(4)
        );
        let roots = [Seg::Key("suites"), Seg::Key("s"), Seg::Key("roots")];
        assert_eq!(line_of(TEXT, &roots), Some(7));
        let second = [roots[0], roots[1], roots[2], Seg::Index(1)];
        assert_eq!(line_of(TEXT, &second), Some(9));
        let exclude = [roots[0], roots[1], Seg::Key("exclude"), Seg::Index(0)];
        assert_eq!(line_of(TEXT, &exclude), Some(11));
    }

    #[test]
    fn missing_parts_give_the_nearest_line_or_none() {
        let missing = [Seg::Key("suites"), Seg::Key("s"), Seg::Key("setup")];
        assert_eq!(line_of(TEXT, &missing), Some(6));
        assert_eq!(line_of(TEXT, &[Seg::Key("services")]), None);
        assert_eq!(line_of("not [toml", &[Seg::Key("a")]), None);
    }
}
