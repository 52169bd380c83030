//! [`Fingerprint`]: a result row's columns folded into one `u64`, straight from its `Serialize`
//! implementation (no bytes written in between), for the run's checksum.

use serde::ser::{self, Serialize, Serializer};
use xxhash_rust::xxh3::xxh3_64;

use crate::workload::splitmix64;

/// Folds values into one well-mixed `u64`, stable across runs and machines (strings by their
/// length and bytes, floats by their bits). Each value is mixed with its position by one
/// 64×64→128-bit multiply and added to a sum, and [`finish`](Self::finish) mixes the sum
/// once, so that the cheapest queries do not spend their time on the checksum: the values'
/// multiplies do not wait for each other (a chain of one multiply per value, each on the
/// state the previous left, cost q22 a quarter of its time for its 15 values per row).
///
/// ```
/// use tidewater_bench::nexmark::queries::Fingerprint;
///
/// #[derive(serde::Serialize)]
/// struct Row { auction: i64, channel: &'static str }
///
/// let row = Row { auction: 7, channel: "Google" };
/// let by_hand = Fingerprint::new().int(7).str("Google").finish();
/// assert_eq!(Fingerprint::of(&row), by_hand);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint {
    /// The sum of the values mixed with their positions.
    sum: u64,
    /// The values folded so far.
    position: u64,
}

impl Default for Fingerprint {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Self {
            sum: 0x6e65_786d_6172_6b21,
            position: 0,
        }
    }

    /// The fingerprint of `value`: its fields in order, as it serialises them (a struct's
    /// fields and a sequence's elements one by one, `None` and `Some` told apart, an enum by
    /// its variant index).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> u64 {
        let mut fingerprint = Fingerprint::new();
        match value.serialize(&mut fingerprint) {
            Ok(()) => fingerprint.finish(),
            Err(never) => match never {},
        }
    }

    /// Adds an integer.
    #[inline]
    pub fn int(self, value: i64) -> Self {
        self.pair(value as u64, 0)
    }

    /// Adds two words as one value: one multiply of both, keyed by the position.
    #[inline]
    fn pair(self, first: u64, second: u64) -> Self {
        let position = self.position + 1;
        let key = position.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xe703_7ed1_a0b4_28db;
        let product = u128::from(first ^ 0xa076_1d64_78bd_642f) * u128::from(second ^ key);
        Self {
            sum: self
                .sum
                .wrapping_add((product >> 64) as u64 ^ product as u64),
            position,
        }
    }

    /// Adds a float.
    #[inline]
    pub fn float(self, value: f64) -> Self {
        self.int(value.to_bits() as i64)
    }

    /// Adds a string.
    #[inline]
    pub fn str(self, value: &str) -> Self {
        self.bytes(value.as_bytes())
    }

    /// Adds a byte string: if it has at most 16 bytes (most of the queries' strings: an xxh3
    /// call cost a fifth of q22), its bytes as two words with its length, folded as one
    /// value; else its length and its xxh3.
    #[inline]
    pub fn bytes(self, value: &[u8]) -> Self {
        let len = value.len() as u64;
        match short_words(value) {
            // The length spread over the word by an odd multiplier: xored into bits the
            // bytes use as they are, it let "aaaaaaaba" and "aaaaaaaaba" meet.
            Some((head, tail)) => self.pair(head, tail ^ len.wrapping_mul(0x9fb2_1c65_1e98_df25)),
            None => self.long_bytes(value),
        }
    }

    /// [`bytes`](Self::bytes) of more than 16 bytes: their length and xxh3. Never inlined,
    /// so that the short strings' path stays a few instructions without xxh3's registers
    /// to save and restore.
    #[inline(never)]
    fn long_bytes(self, value: &[u8]) -> Self {
        self.int(value.len() as i64).int(xxh3_64(value) as i64)
    }

    /// The fingerprint.
    #[inline]
    pub fn finish(self) -> u64 {
        splitmix64(self.sum ^ self.position.rotate_left(32))
    }

    #[inline]
    fn fold(&mut self, step: impl FnOnce(Self) -> Self) -> Result<(), Never> {
        *self = step(*self);
        Ok(())
    }
}

/// Two words that, with the length, tell apart every byte string of at most 16 bytes (as
/// xxh3 reads short inputs: the first and the last bytes, overlapping); `None` if longer.
#[inline]
fn short_words(bytes: &[u8]) -> Option<(u64, u64)> {
    let len = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            bytes[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    match len {
        0 => Some((0, 0)),
        1..=3 => Some((
            u64::from(bytes[0]) | u64::from(bytes[len / 2]) << 8 | u64::from(bytes[len - 1]) << 16,
            0,
        )),
        4..=7 => Some((half(0), half(len - 4))),
        8..=16 => Some((word(0), word(len - 8))),
        _ => None,
    }
}

/// Folding cannot fail.
#[derive(Debug)]
pub enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        panic!("a row failed to serialise into its fingerprint: {message}")
    }
}

/// Integers of every width fold as an `i64` (as `i64` and `u64` values that are equal
/// as numbers do); 128-bit ones as their two halves.
macro_rules! fold_ints {
    ($($method:ident: $t:ty),*) => {$(
        #[inline]
        fn $method(self, value: $t) -> Result<(), Never> {
            self.fold(|f| f.int(value as i64))
        }
    )*};
}

impl Serializer for &mut Fingerprint {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fold_ints!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_bool: bool, serialize_char: char);

    fn serialize_i128(self, value: i128) -> Result<(), Never> {
        self.fold(|f| f.int(value as i64).int((value >> 64) as i64))
    }

    fn serialize_u128(self, value: u128) -> Result<(), Never> {
        self.serialize_i128(value as i128)
    }

    #[inline]
    fn serialize_f32(self, value: f32) -> Result<(), Never> {
        self.fold(|f| f.float(f64::from(value)))
    }

    #[inline]
    fn serialize_f64(self, value: f64) -> Result<(), Never> {
        self.fold(|f| f.float(value))
    }

    #[inline]
    fn serialize_str(self, value: &str) -> Result<(), Never> {
        self.fold(|f| f.str(value))
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Never> {
        self.fold(|f| f.bytes(value))
    }

    #[inline]
    fn serialize_none(self) -> Result<(), Never> {
        self.fold(|f| f.int(0))
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.fold(|f| f.int(1))?;
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Never> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), Never> {
        self.serialize_u32(index)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.serialize_u32(index)?;
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Never> {
        // The length (when known up front) keeps ([a], [b]) apart from ([a, b], []).
        self.fold(|f| f.int(len.map_or(-1, |len| len as i64)))?;
        Ok(self)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self, Never> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Never> {
        self.serialize_u32(index)?;
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self, Never> {
        self.serialize_seq(len)
    }

    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.serialize_tuple_variant(name, index, variant, len)
    }
}

/// Every compound folds its parts in order and nothing at its end.
macro_rules! fold_parts {
    ($($part:ident: $method:ident($($name:ident),*)),*) => {$(
        impl ser::$part for &mut Fingerprint {
            type Ok = ();
            type Error = Never;

            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $name,)* value: &T) -> Result<(), Never> {
                value.serialize(&mut **self)
            }

            fn end(self) -> Result<(), Never> {
                Ok(())
            }
        }
    )*};
}

fold_parts!(
    SerializeSeq: serialize_element(),
    SerializeTuple: serialize_element(),
    SerializeTupleStruct: serialize_field(),
    SerializeTupleVariant: serialize_field(),
    SerializeStruct: serialize_field(StaticStr),
    SerializeStructVariant: serialize_field(StaticStr)
);

/// A field's name, which folding passes over.
type StaticStr = &'static str;

impl ser::SerializeMap for &mut Fingerprint {
    type Ok = ();
    type Error = Never;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Row {
        auction: i64,
        price: f64,
        channel: String,
        dirs: Option<String>,
        ids: Vec<u32>,
    }

    fn row() -> Row {
        Row {
            auction: 7,
            price: 1.5,
            channel: "Google".into(),
            dirs: Some("a".into()),
            ids: vec![1, 2],
        }
    }

    #[test]
    fn every_field_counts() {
        let base = Fingerprint::of(&row());
        let changed = [
            Row {
                auction: 8,
                ..row()
            },
            Row {
                price: 1.25,
                ..row()
            },
            Row {
                channel: "google".into(),
                ..row()
            },
            Row {
                dirs: None,
                ..row()
            },
            Row {
                dirs: Some(String::new()),
                ..row()
            },
            Row {
                ids: vec![2, 1],
                ..row()
            },
            Row {
                ids: vec![1],
                ..row()
            },
        ];
        for other in &changed {
            assert_ne!(Fingerprint::of(other), base);
        }
        assert_eq!(Fingerprint::of(&row()), base);
    }

    #[test]
    fn strings_of_every_length_differ() {
        // Each length up to past the short-string limit, each byte position changed once:
        // every one of these strings folds to its own fingerprint.
        let mut seen = std::collections::HashSet::new();
        for len in 0..=24 {
            let base = vec![b'a'; len];
            assert!(seen.insert(Fingerprint::new().bytes(&base).finish()));
            for at in 0..len {
                for to in [b'b', b' ', b'~'] {
                    let mut changed = base.clone();
                    changed[at] = to;
                    assert!(
                        seen.insert(Fingerprint::new().bytes(&changed).finish()),
                        "{len} bytes, byte {at} changed to {to}"
                    );
                }
            }
        }
        // A string's bytes do not run into the next value's.
        let split = |a: &str, b: &str| Fingerprint::new().str(a).str(b).finish();
        assert_ne!(split("ab", "c"), split("a", "bc"));
        assert_ne!(split("", "a\0"), split("a", ""));
    }

    #[test]
    fn folds_as_the_fields_by_hand() {
        let by_hand = Fingerprint::new()
            .int(7)
            .float(1.5)
            .str("Google")
            .int(1)
            .str("a")
            .int(2)
            .int(1)
            .int(2)
            .finish();
        assert_eq!(Fingerprint::of(&row()), by_hand);
    }
}
