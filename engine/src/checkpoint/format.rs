//! The framing of every checkpoint file: a fixed header naming the format version, what the
//! file holds and for which checkpoint, then the payload, all covered by a 64-bit checksum
//! (xxh3). A reader checks all of it before it trusts a byte: a flipped bit, a truncation, a
//! file from another checkpoint or another kind is an error naming the file.

use xxhash_rust::xxh3::Xxh3;

use super::CheckpointError;

/// The first bytes of every checkpoint file.
const MAGIC: [u8; 4] = *b"TWCK";

/// The version of this framing and of the payloads inside it. A reader refuses others.
pub const FORMAT_VERSION: u16 = 1;

/// magic 4, version 2, kind 1, reserved 1, checkpoint 8, payload length 8, checksum 8.
pub const HEADER_LEN: usize = 32;

/// What a checkpoint file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FileKind {
    /// The list of a checkpoint's files and what it covers.
    Manifest = 1,
    /// The snapshot of one stage on one shard: source offsets and operator state.
    StageState = 2,
}

/// Frames `payload` as a file of `kind` for checkpoint `checkpoint`.
pub fn encode(kind: FileKind, checkpoint: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.resize(HEADER_LEN, 0);
    bytes.extend_from_slice(payload);
    seal(kind, checkpoint, bytes)
}

/// Frames a payload already written after `HEADER_LEN` placeholder bytes at the start of
/// `bytes` (so that a large payload is not copied once more): fills in the header and the
/// checksum.
pub fn seal(kind: FileKind, checkpoint: u64, mut bytes: Vec<u8>) -> Vec<u8> {
    let payload_len = (bytes.len() - HEADER_LEN) as u64;
    bytes[..4].copy_from_slice(&MAGIC);
    bytes[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes[6] = kind as u8;
    bytes[7] = 0;
    bytes[8..16].copy_from_slice(&checkpoint.to_le_bytes());
    bytes[16..24].copy_from_slice(&payload_len.to_le_bytes());
    let checksum = checksum(&bytes);
    bytes[24..32].copy_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The checksum of a framed file: over everything but the checksum field itself.
fn checksum(bytes: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(&bytes[..24]);
    hasher.update(&bytes[HEADER_LEN..]);
    hasher.digest()
}

/// Checks the file `name`'s framing and returns its payload.
pub fn decode<'a>(
    name: &str,
    bytes: &'a [u8],
    kind: FileKind,
    checkpoint: u64,
) -> Result<&'a [u8], CheckpointError> {
    let corrupt = |offset: usize, what: String| CheckpointError::Corrupt {
        file: name.to_string(),
        offset: offset as u64,
        what,
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(
            bytes.len(),
            format!(
                "truncated: {} bytes, the header alone is {HEADER_LEN}",
                bytes.len()
            ),
        ));
    }
    if bytes[..4] != MAGIC {
        return Err(corrupt(0, "not a Tidewater checkpoint file".into()));
    }
    let field = |range: std::ops::Range<usize>| {
        let mut raw = [0; 8];
        raw[..range.len()].copy_from_slice(&bytes[range]);
        u64::from_le_bytes(raw)
    };
    let version = field(4..6) as u16;
    if version != FORMAT_VERSION {
        return Err(corrupt(
            4,
            format!("format version {version}, this build reads {FORMAT_VERSION}"),
        ));
    }
    let length = field(16..24);
    if length != (bytes.len() - HEADER_LEN) as u64 {
        return Err(corrupt(
            16,
            format!(
                "payload of {length} bytes announced, {} present (truncated or extended)",
                bytes.len() - HEADER_LEN
            ),
        ));
    }
    if field(24..32) != checksum(bytes) {
        return Err(corrupt(
            24,
            "checksum mismatch: the contents are damaged".into(),
        ));
    }
    if bytes[6] != kind as u8 {
        return Err(corrupt(
            6,
            format!("holds kind {}, expected {kind:?}", bytes[6]),
        ));
    }
    let found = field(8..16);
    if found != checkpoint {
        return Err(corrupt(
            8,
            format!("belongs to checkpoint {found}, expected {checkpoint}"),
        ));
    }
    Ok(&bytes[HEADER_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips() {
        let bytes = encode(FileKind::StageState, 7, b"payload");
        assert_eq!(
            decode("f", &bytes, FileKind::StageState, 7).unwrap(),
            b"payload"
        );
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = encode(FileKind::Manifest, 3, &[5; 40]);
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode("f", &damaged, FileKind::Manifest, 3).is_err(),
                "bit {bit} flipped unnoticed"
            );
        }
    }

    #[test]
    fn truncation_other_checkpoints_and_kinds_are_refused() {
        let bytes = encode(FileKind::Manifest, 3, &[1; 100]);
        for cut in [0, 10, HEADER_LEN, bytes.len() - 1] {
            let error = decode("m", &bytes[..cut], FileKind::Manifest, 3).unwrap_err();
            assert!(error.to_string().contains("`m`"), "{error}");
        }
        let error = decode("m", &bytes, FileKind::Manifest, 4).unwrap_err();
        assert!(error.to_string().contains("checkpoint 3"), "{error}");
        assert!(decode("m", &bytes, FileKind::StageState, 3).is_err());
    }
}
