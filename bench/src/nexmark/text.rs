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
/// them. It compares 16 bytes at once into a bit mask (a vector compare) and takes the
/// separators off the mask: `str::split` calls `memchr` once per part and `memchr_iter` sets
/// up its vector search, each costing more than a URL's parts are long, and a byte-by-byte
/// scan was a fifth of q22. `separator` must be ASCII (so every cut is at a character
/// boundary).
pub fn split_ascii(text: &str, separator: u8) -> SplitAscii<'_> {
    assert!(separator.is_ascii(), "split_ascii needs an ASCII separator");
    SplitAscii {
        text,
        separator,
        next_part: Some(0),
        block: 0,
        mask: block_mask(text.as_bytes(), separator),
    }
}

/// The iterator of [`split_ascii`].
#[derive(Debug, Clone)]
pub struct SplitAscii<'a> {
    text: &'a str,
    separator: u8,
    /// Where the next part starts; `None` once the last part has been given.
    next_part: Option<usize>,
    /// The offset of the block of 16 bytes that `mask` covers.
    block: usize,
    /// The separators of that block not yet passed, a bit each.
    mask: u16,
}

impl<'a> Iterator for SplitAscii<'a> {
    type Item = &'a str;

    #[inline(always)]
    fn next(&mut self) -> Option<&'a str> {
        let start = self.next_part?;
        while self.mask == 0 {
            self.block += BLOCK;
            if self.block >= self.text.len() {
                self.next_part = None;
                return Some(&self.text[start..]);
            }
            self.mask = block_mask(&self.text.as_bytes()[self.block..], self.separator);
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        self.next_part = Some(at + 1);
        Some(&self.text[start..at])
    }
}

/// The offsets of the first `M` `separator`s (ASCII) in `text`, and how many of them it has
/// (at most `M`): for the parts of a URL that a query picks by number, in one loop rather
/// than a [`split_ascii`] step, with its iterator state, per part.
#[inline]
pub fn separators<const M: usize>(text: &str, separator: u8) -> ([usize; M], usize) {
    let bytes = text.as_bytes();
    let (mut found, mut count, mut block) = ([0; M], 0, 0);
    while count < M && block < bytes.len() {
        let mut mask = block_mask(&bytes[block..], separator);
        while mask != 0 && count < M {
            found[count] = block + mask.trailing_zeros() as usize;
            count += 1;
            mask &= mask - 1;
        }
        block += BLOCK;
    }
    (found, count)
}

/// The bytes [`block_mask`] compares at once.
const BLOCK: usize = 16;

/// Bit `i` is set where `bytes[i] == byte`, for `i < 16`.
#[inline(always)]
fn block_mask(bytes: &[u8], byte: u8) -> u16 {
    match bytes.first_chunk::<BLOCK>() {
        Some(block) => full_block_mask(block, byte),
        None => bytes
            .iter()
            .enumerate()
            .fold(0, |mask, (i, &b)| mask | u16::from(b == byte) << i),
    }
}

/// [`block_mask`] of a whole block: one SSE2 compare and a move of its mask (the compiler
/// did not find that for the portable loop, which is what other targets run).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn full_block_mask(block: &[u8; BLOCK], byte: u8) -> u16 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: SSE2 is part of every x86_64 target; `block` is 16 readable bytes, and an
    // unaligned load reads exactly those.
    unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(byte as i8))) as u16
    }
}

/// [`block_mask`] of a whole block.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn full_block_mask(block: &[u8; BLOCK], byte: u8) -> u16 {
    block
        .iter()
        .enumerate()
        .fold(0, |mask, (i, &b)| mask | u16::from(b == byte) << i)
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
            // Separators on both sides of block boundaries, and blocks without any.
            "0123456789abcde/g/123456789abcde//123456789abcdef0123456789abcdef/",
            "https://www.nexmark.com/abcd/ef_g/hij/item.htm?query=1&channel_id=1234567",
            "////////////////////////////////////",
        ] {
            for separator in [b'/', b'?', b'&'] {
                let expected: Vec<&str> = text.split(char::from(separator)).collect();
                assert_eq!(split_ascii(text, separator).collect::<Vec<_>>(), expected);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn split_ascii_is_split_on_any_text(text in "[a/&é]{0,80}") {
            for separator in [b'/', b'&'] {
                let expected: Vec<&str> = text.split(char::from(separator)).collect();
                proptest::prop_assert_eq!(
                    split_ascii(&text, separator).collect::<Vec<_>>(),
                    expected
                );
            }
        }
    }

    #[test]
    fn separators_are_the_first_offsets() {
        let text = "0123456789abcde/g/123456789abcde//123456789abcdef/";
        let all: Vec<usize> = text.match_indices('/').map(|(at, _)| at).collect();
        assert_eq!(separators::<3>(text, b'/'), ([15, 17, 32], 3));
        let (found, count) = separators::<8>(text, b'/');
        assert_eq!((&found[..count], count), (&all[..], all.len()));
        assert_eq!(separators::<2>("no separator", b'/'), ([0, 0], 0));
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
