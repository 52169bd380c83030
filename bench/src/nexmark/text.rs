//! [`Text`]: the immutable string of the events' string fields, cheap to make and to copy.
//!
//! Almost every string the generator makes is a piece of something that lives for the whole
//! process: a channel name or URL from the per-seed tables, a window of the random-letter
//! pools for `extra`, a word of the fixed vocabularies. A [`Text`] borrows such a string for
//! `'static` (making, cloning and dropping it touch no allocator and no shared counter), and
//! owns the others (a string read from `--input`, a person's name) behind an [`Arc`], so that
//! a clone is one reference count. It is two words, as a `&str` is (the shared kind is a thin
//! `Arc<String>`, so the borrowed kind's non-null pointer tells the two apart), which keeps
//! the events small to move. It reads as a `&str` everywhere ([`Deref`]), and compares,
//! orders, hashes and serialises as its characters only, so which kind it is never shows.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tidewater::exchange::StableKey;
use xxhash_rust::xxh3::Xxh3;

/// An immutable string: borrowed for the whole process, or shared. See the module docs.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<String>),
}

impl Text {
    /// The empty string.
    pub const EMPTY: Text = Text(Repr::Static(""));

    /// A string that lives for the whole process, borrowed: no allocation.
    pub const fn from_static(text: &'static str) -> Self {
        Text(Repr::Static(text))
    }

    /// The characters.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(text) => text,
            Repr::Shared(text) => text,
        }
    }

    /// The parts of the string that `find` picks: borrowed too if this one is, else copied.
    #[inline]
    pub fn substrings<const N: usize>(
        &self,
        find: impl for<'a> FnOnce(&'a str) -> [Option<&'a str>; N],
    ) -> [Option<Text>; N] {
        match &self.0 {
            Repr::Static(text) => find(text).map(|part| part.map(Text::from_static)),
            Repr::Shared(text) => {
                find(text).map(|part| part.map(|part| Text::from(part.to_string())))
            }
        }
    }
}

/// The parts of `text` between `separator`s, as `text.split(char::from(separator))` gives
/// them, found by a plain scan of the bytes: `str::split` calls `memchr` once per part, and
/// `memchr_iter` sets up its vector search, each of which costs more than the parts of a URL
/// are long (measured on q22, as was an eight-bytes-at-a-time scan, slower still).
/// `separator` must be ASCII (so every cut is at a character boundary).
pub fn split_ascii(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    assert!(separator.is_ascii(), "split_ascii needs an ASCII separator");
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.bytes().position(|byte| byte == separator) {
            Some(at) => {
                rest = Some(&current[at + 1..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

impl Default for Text {
    fn default() -> Self {
        Text::EMPTY
    }
}

impl Deref for Text {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Text {
    fn from(text: &'static str) -> Self {
        Text::from_static(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Text(Repr::Shared(Arc::new(text)))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// Routes as the same characters in a `String` would, so keys move between shards alike.
impl StableKey for Text {
    fn feed(&self, hasher: &mut Xxh3) {
        self.as_str().feed(hasher);
    }

    fn stable_hash(&self) -> u64 {
        self.as_str().stable_hash()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Text::from)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;

    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn borrowed_and_shared_texts_are_the_same_string() {
        let borrowed = Text::from_static("channel-7");
        let shared = Text::from(String::from("channel-7"));
        assert_eq!(borrowed, shared);
        assert_eq!(hash_of(&borrowed), hash_of(&shared));
        assert_eq!(hash_of(&borrowed), hash_of("channel-7"));
        assert_eq!(
            shared.stable_hash(),
            String::from("channel-7").stable_hash()
        );
        assert_eq!(borrowed.cmp(&shared), std::cmp::Ordering::Equal);
        let (a, b) = (Text::from("a"), Text::from(String::from("b")));
        assert!(a < b);
        assert_eq!(format!("{borrowed} {shared:?}"), "channel-7 \"channel-7\"");
    }

    #[test]
    fn serialises_as_a_plain_string() {
        let text = Text::from_static("a \"quoted\" word");
        let json = serde_json::to_string(&text).unwrap();
        assert_eq!(json, r#""a \"quoted\" word""#);
        let back: Text = serde_json::from_str(&json).unwrap();
        assert_eq!(back, text);
        assert!(serde_json::from_str::<Text>("12").is_err());
    }

    #[test]
    fn split_ascii_is_split() {
        for text in [
            "https://a.b/x/y/z?q=1&c=2",
            "/",
            "//a//",
            "",
            "é/ü//ß/",
            "plain",
        ] {
            for separator in [b'/', b'?', b'&'] {
                let expected: Vec<&str> = text.split(char::from(separator)).collect();
                assert_eq!(split_ascii(text, separator).collect::<Vec<_>>(), expected);
            }
        }
    }

    #[test]
    fn is_two_words() {
        assert_eq!(std::mem::size_of::<Text>(), std::mem::size_of::<&str>());
    }

    #[test]
    fn substrings_of_both_kinds() {
        fn parts(text: &str) -> [Option<&str>; 2] {
            [text.split('/').nth(1), text.split('/').nth(3)]
        }
        for text in [Text::from("a/bc/d"), Text::from(String::from("a/bc/d"))] {
            assert_eq!(text.substrings(parts), [Some(Text::from("bc")), None]);
        }
    }
}
