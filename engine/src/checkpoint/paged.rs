//! Paged state parts: how a store organised in fixed-size pages (the memory-mapped backend)
//! saves itself. A part is either *full* (every page, in order) or a *delta* (the pages
//! changed since the part of an earlier checkpoint, its base); restoring overlays a chain of
//! deltas on the pages of its full base. Pages come first, raw, then a small header and its
//! length: a full image's page `i` sits at byte `i × page size`, so a store maps an image
//! back by copying one block, and a delta applies by copying its pages over.

use serde::{Deserialize, Serialize};

/// The header of a paged part.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    /// The store's own description of its geometry (slot layout, entry count).
    meta: Vec<u8>,
    /// The page size in bytes.
    page_size: u32,
    /// The store's page count.
    page_count: u32,
    /// The indexes of the pages, in the order they are stored; `None` for every page in
    /// order (a full image).
    pages: Option<Vec<u32>>,
}

/// A parsed paged part, borrowing its bytes.
#[derive(Debug)]
pub struct PagedPart<'a> {
    /// The store's own description of its geometry.
    pub meta: Vec<u8>,
    /// The page size in bytes.
    pub page_size: usize,
    /// The store's page count.
    pub page_count: usize,
    /// The pages' indexes in storage order (`None`: all, in order).
    indexes: Option<Vec<u32>>,
    /// The pages, back to back.
    body: &'a [u8],
}

impl<'a> PagedPart<'a> {
    /// Encodes a full image: `meta` and every page of `pages` (`page_count` of `page_size`
    /// bytes, in order).
    pub fn encode_full(meta: &[u8], page_size: usize, page_count: usize, pages: &[u8]) -> Vec<u8> {
        debug_assert_eq!(pages.len(), page_size * page_count);
        let mut bytes = Vec::with_capacity(pages.len() + meta.len() + 32);
        bytes.extend_from_slice(pages);
        finish(&mut bytes, meta, page_size, page_count, None);
        bytes
    }

    /// Encodes a delta: `meta` and the pages `pages` yields.
    pub fn encode_delta<'p>(
        meta: &[u8],
        page_size: usize,
        page_count: usize,
        pages: impl Iterator<Item = (u32, &'p [u8])>,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut indexes = Vec::new();
        for (index, page) in pages {
            debug_assert_eq!(page.len(), page_size);
            bytes.extend_from_slice(page);
            indexes.push(index);
        }
        finish(&mut bytes, meta, page_size, page_count, Some(indexes));
        bytes
    }

    /// Parses a part made by the encoders.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        let tail = bytes.len().checked_sub(4).ok_or("a paged part too short")?;
        let header_len = u32::from_le_bytes(bytes[tail..].try_into().expect("4 bytes")) as usize;
        let start = tail.checked_sub(header_len).ok_or("a bad header length")?;
        let header: Header = postcard::from_bytes(&bytes[start..tail])
            .map_err(|e| format!("a bad paged header: {e}"))?;
        let page_size = header.page_size as usize;
        let count = header
            .pages
            .as_ref()
            .map_or(header.page_count as usize, Vec::len);
        if start != count * page_size {
            return Err(format!(
                "{start} bytes of pages, {count} of {page_size} announced"
            ));
        }
        if header
            .pages
            .as_ref()
            .is_some_and(|pages| pages.iter().any(|&index| index >= header.page_count))
        {
            return Err("a page beyond the store".into());
        }
        Ok(Self {
            meta: header.meta,
            page_size,
            page_count: header.page_count as usize,
            indexes: header.pages,
            body: &bytes[..start],
        })
    }

    /// Whether this is a full image.
    pub fn is_full(&self) -> bool {
        self.indexes.is_none()
    }

    /// Every page, back to back (a full image's).
    pub fn full_pages(&self) -> Option<&'a [u8]> {
        self.is_full().then_some(self.body)
    }

    /// `(page index, page bytes)`, in storage order.
    pub fn pages(&self) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        let size = self.page_size.max(1);
        self.body
            .chunks_exact(size)
            .enumerate()
            .map(move |(k, page)| {
                let index = match &self.indexes {
                    Some(indexes) => indexes[k],
                    None => k as u32,
                };
                (index, page)
            })
    }
}

/// Appends the header and its length.
fn finish(
    bytes: &mut Vec<u8>,
    meta: &[u8],
    page_size: usize,
    page_count: usize,
    pages: Option<Vec<u32>>,
) {
    let header = Header {
        meta: meta.to_vec(),
        page_size: page_size as u32,
        page_count: page_count as u32,
        pages,
    };
    let encoded = postcard::to_stdvec(&header).expect("a header encodes");
    bytes.extend_from_slice(&encoded);
    bytes.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
}

/// Overlays the deltas `deltas` (oldest first) of the chain whose full image is `full` on
/// `pages`, a copy of that image's pages: each delta's pages overwrite. Returns the newest
/// meta (the full image's when there are no deltas).
pub fn overlay(
    pages: &mut [u8],
    full: &PagedPart,
    deltas: &[impl AsRef<[u8]>],
) -> Result<Vec<u8>, String> {
    if !full.is_full() {
        return Err("a delta chain does not start with a full image".into());
    }
    debug_assert_eq!(pages.len(), full.body.len());
    let mut meta = full.meta.clone();
    for delta in deltas {
        let delta = PagedPart::parse(delta.as_ref())?;
        if delta.is_full() {
            return Err("a full image in the middle of a delta chain".into());
        }
        if (delta.page_size, delta.page_count) != (full.page_size, full.page_count) {
            return Err("a delta of another page geometry than its base".into());
        }
        for (index, page) in delta.pages() {
            let at = index as usize * full.page_size;
            pages[at..at + full.page_size].copy_from_slice(page);
        }
        meta = delta.meta;
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_overlay_their_full_image_in_order() {
        let pages: Vec<u8> = (0..4u8).flat_map(|i| vec![i; 8]).collect();
        let image = PagedPart::encode_full(b"m1", 8, 4, &pages);
        let (nine, seven) = ([9u8; 8], [7u8; 8]);
        let first = PagedPart::encode_delta(b"m2", 8, 4, [(2u32, &nine[..])].into_iter());
        let second = PagedPart::encode_delta(b"m3", 8, 4, [(2u32, &seven[..])].into_iter());
        let full = PagedPart::parse(&image).unwrap();
        let mut block = full.full_pages().unwrap().to_vec();
        let meta = overlay(&mut block, &full, &[first.clone(), second]).unwrap();
        assert_eq!(meta, b"m3");
        assert_eq!(&block[16..24], &seven, "the newest delta wins");
        assert_eq!(&block[8..16], &[1; 8], "pages no delta holds stay");
        let other = PagedPart::encode_delta(b"m", 8, 5, [(1u32, &nine[..])].into_iter());
        assert!(overlay(&mut block, &full, &[other]).is_err());
        let delta = PagedPart::parse(&first).unwrap();
        assert!(
            overlay(&mut block, &delta, &[] as &[Vec<u8>]).is_err(),
            "a chain starts full"
        );
        assert!(PagedPart::parse(&image[..image.len() - 9]).is_err());
        let beyond = PagedPart::encode_delta(b"m", 8, 4, [(7u32, &nine[..])].into_iter());
        assert!(PagedPart::parse(&beyond).is_err());
    }
}
