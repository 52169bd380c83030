//! What the Nexmark query tests share: applying a result file's `+`/`-` lines, and comparing
//! result tables with the float tolerance of NEXMARK.md.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

/// A result table: each row (its columns as a canonical JSON object) and its multiplicity.
pub type Table = HashMap<String, i64>;

/// Applies the `+`/`-` lines of the result file at `path`.
pub fn apply(path: &Path) -> Table {
    let mut table = Table::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let Value::Object(mut row) = serde_json::from_str(line).unwrap() else {
            panic!("not an object: {line}")
        };
        let delta = match row.remove("op").as_ref().and_then(Value::as_str) {
            Some("+") => 1,
            Some("-") => -1,
            other => panic!("bad op {other:?} in {line}"),
        };
        let count = table.entry(Value::Object(row).to_string()).or_insert(0);
        *count += delta;
        assert!(*count >= 0, "retraction of a row not in the table: {line}");
    }
    table.retain(|_, count| *count != 0);
    table
}

/// Asserts that two result tables hold the same rows as often, floats compared with a
/// relative tolerance of 1e-9 (NEXMARK.md): rows are matched on their other columns, then
/// their floats in order. Reports a few differences rather than both tables.
pub fn assert_same_table(got: &Table, expected: &Table, what: &str) {
    type Groups = HashMap<String, Vec<Vec<f64>>>;
    let group = |table: &Table| {
        let mut groups = Groups::new();
        for (row, &count) in table {
            let Value::Object(mut row) = serde_json::from_str(row).unwrap() else {
                unreachable!("rows are objects")
            };
            let mut floats = Vec::new();
            for value in row.values_mut() {
                if let Some(float) = value.as_f64().filter(|_| value.is_f64()) {
                    floats.push(float);
                    *value = Value::Null;
                }
            }
            let entry = groups.entry(Value::Object(row).to_string()).or_default();
            entry.extend(std::iter::repeat_n(floats, count as usize));
        }
        for rows in groups.values_mut() {
            rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
        }
        groups
    };
    let (got, expected) = (group(got), group(expected));
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()))
    };
    let mut differences = Vec::new();
    for (key, rows) in &expected {
        let other = got.get(key).map_or(&[][..], Vec::as_slice);
        let same = rows.len() == other.len() && rows.iter().zip(other).all(|(a, b)| close(a, b));
        if !same {
            differences.push(format!("{key}: expected {rows:?}, got {other:?}"));
        }
    }
    for (key, rows) in &got {
        if !expected.contains_key(key) {
            differences.push(format!("{key}: not expected, got {rows:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{what}: {} rows differ, such as:\n{}",
        differences.len(),
        differences[..differences.len().min(5)].join("\n")
    );
}
