//! q13, bounded side input join: every bid joined with a side-input table of `key,value`
//! lines on `auction % 10000 = key`, as `auction, bidder, price, date_time, value`. The table
//! is read once, before the job starts, and shared by every shard; bids whose key is not in
//! it are left out (an inner join).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tidewater::DataStream;

use super::ResultRow;
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;

/// The join key is the auction modulo this.
pub const KEYS: i64 = 10_000;

/// A result row of q13.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bidder.
    pub bidder: i64,
    /// The price.
    pub price: i64,
    /// The bid's time, epoch ms.
    pub date_time: i64,
    /// The side input's value for `auction % 10000`.
    pub value: String,
}

impl ResultRow for Row {}

/// Why the side input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SideInputError {
    /// The file could not be read or written.
    #[error("side input {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line is not `key,value` with an integer key.
    #[error("side input {path}, line {line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
}

/// The side-input table: value by key.
pub type SideInput = Arc<HashMap<i64, String>>;

/// The value of `key` in the generated side input.
pub fn generated_value(key: i64) -> String {
    format!("item-{key:04}")
}

/// The side input at `path`; if there is no file there, a generated one (every key of
/// `0..10000`, see [`generated_value`]) is written first. Without a path, the generated table.
pub fn side_input(path: Option<&Path>) -> Result<SideInput, SideInputError> {
    let Some(path) = path else {
        return Ok(Arc::new(
            (0..KEYS).map(|key| (key, generated_value(key))).collect(),
        ));
    };
    let io = |source| SideInputError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
        for key in 0..KEYS {
            writeln!(out, "{key},{}", generated_value(key)).map_err(io)?;
        }
        out.flush().map_err(io)?;
    }
    let reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut table = HashMap::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |message: String| SideInputError::Malformed {
            path: path.to_path_buf(),
            line: index as u64 + 1,
            message,
        };
        let (key, value) = line
            .split_once(',')
            .ok_or_else(|| malformed(format!("expected `key,value`, found {line:?}")))?;
        let key = key
            .trim()
            .parse::<i64>()
            .map_err(|e| malformed(format!("key {key:?} is not an integer: {e}")))?;
        table.insert(key, value.to_string());
    }
    Ok(Arc::new(table))
}

/// The row of `bid` joined with `table`, if its key is in it.
pub fn row(bid: Bid, table: &SideInput) -> Option<Row> {
    let value = table.get(&(bid.auction % KEYS))?.clone();
    Some(Row {
        auction: bid.auction,
        bidder: bid.bidder,
        price: bid.price,
        date_time: bid.date_time,
        value,
    })
}

/// Every bid of `events` joined with `table` (one pass over the events, as q0).
pub fn query(events: &DataStream<Stamped<Event>>, table: SideInput) -> DataStream<Stamped<Row>> {
    events
        .flat_map(move |event: Stamped<Event>| {
            event.filter_map(|event| row(event.into_bid()?, &table))
        })
        .name("q13")
}
