//! Paged state parts: how a store organised in fixed-size pages (the memory-mapped backend)
//! saves itself. A part is either *full* (every page) or a *delta* (the pages changed since
//! the part of an earlier checkpoint, its base); restoring applies a chain of deltas on its
//! full base. Pages are copied out raw, after a small header, so that saving 1% of a large
//! store costs a copy of 1% of its bytes.

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
    /// The indexes of the pages that follow, in order.
    pages: Vec<u32>,
}

/// A set of pages with the store's meta: a full image or a delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSet {
    /// The store's own description of its geometry.
    pub meta: Vec<u8>,
    /// The page size in bytes.
    pub page_size: usize,
    /// The store's page count.
    pub page_count: usize,
    /// `(page index, page bytes)`, by index.
    pub pages: Vec<(u32, Vec<u8>)>,
}

impl PageSet {
    /// Encodes `meta` and the pages `pages` yields (each `page_size` bytes).
    pub fn encode<'a>(
        meta: &[u8],
        page_size: usize,
        page_count: usize,
        pages: impl Iterator<Item = (u32, &'a [u8])> + Clone,
    ) -> Vec<u8> {
        let header = Header {
            meta: meta.to_vec(),
            page_size: page_size as u32,
            page_count: page_count as u32,
            pages: pages.clone().map(|(index, _)| index).collect(),
        };
        let mut bytes = postcard::to_stdvec(&header).expect("a header encodes");
        let header_len = bytes.len() as u32;
        bytes.reserve(header.pages.len() * page_size + 4);
        for (_, page) in pages {
            debug_assert_eq!(page.len(), page_size);
            bytes.extend_from_slice(page);
        }
        bytes.extend_from_slice(&header_len.to_le_bytes());
        bytes
    }

    /// Decodes a part made by [`encode`](Self::encode).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let tail = bytes.len().checked_sub(4).ok_or("a paged part too short")?;
        let header_len = u32::from_le_bytes(bytes[tail..].try_into().expect("4 bytes")) as usize;
        let header: Header =
            postcard::from_bytes(bytes.get(..header_len).ok_or("a bad header length")?)
                .map_err(|e| format!("a bad paged header: {e}"))?;
        let page_size = header.page_size as usize;
        let body = &bytes[header_len..tail];
        if body.len() != header.pages.len() * page_size {
            return Err(format!(
                "{} bytes of pages, {} pages of {page_size} announced",
                body.len(),
                header.pages.len()
            ));
        }
        let pages = header
            .pages
            .iter()
            .zip(body.chunks_exact(page_size.max(1)))
            .map(|(index, page)| (*index, page.to_vec()))
            .collect();
        Ok(Self {
            meta: header.meta,
            page_size,
            page_count: header.page_count as usize,
            pages,
        })
    }

    /// Applies `delta` (a later part based on this one): its pages replace these, and its
    /// meta is the store's now.
    pub fn apply(&mut self, delta: PageSet) -> Result<(), String> {
        if delta.page_size != self.page_size || delta.page_count != self.page_count {
            return Err("a delta of another page geometry than its base".into());
        }
        let mut merged: std::collections::BTreeMap<u32, Vec<u8>> =
            std::mem::take(&mut self.pages).into_iter().collect();
        merged.extend(delta.pages);
        self.pages = merged.into_iter().collect();
        self.meta = delta.meta;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_applies_on_its_base() {
        let pages: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 8]).collect();
        let full = PageSet::encode(
            b"m1",
            8,
            4,
            pages
                .iter()
                .enumerate()
                .map(|(i, p)| (i as u32, p.as_slice())),
        );
        let changed = [9u8; 8];
        let delta = PageSet::encode(b"m2", 8, 4, [(2u32, &changed[..])].into_iter());
        let mut image = PageSet::decode(&full).unwrap();
        image.apply(PageSet::decode(&delta).unwrap()).unwrap();
        assert_eq!(image.meta, b"m2");
        assert_eq!(image.pages[2].1, vec![9; 8]);
        assert_eq!(image.pages[1].1, vec![1; 8]);
        assert!(PageSet::decode(&full[..full.len() - 9]).is_err());
    }
}
