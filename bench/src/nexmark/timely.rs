//! The timely-dataflow peers of q0, q1, q2, q5, q7 and q8, run by `--engine timely` so that
//! PERFORMANCE.md can show both engines measured side by side.
//!
//! Each is the idiomatic timely program for the query: one worker per shard, each generating
//! its interleaved part of the events (as the Tidewater source does), in containers of up to
//! 1 024. The stateless queries run with `()` timestamps and no exchange. The windowed ones
//! use event time as the timestamp: a worker's capability follows the largest `date_time` it
//! has generated, less `--out-of-orderness-ms` (Tidewater's watermark), rounded down to
//! [`TICK_MS`] so that progress tracking is not per millisecond; an operator's input
//! frontier then says which windows are complete. Results are the same rows as on Tidewater
//! (same checksum), with latency measured the same way.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use hashbrown::HashMap;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};
use timely::progress::Timestamp;

use super::event::{Bid, Event};
use super::generator::NexmarkGenerator;
use super::queries::{q0, q1, q2, q5, q7, q8, ResultRow};
use super::run::{NexmarkError, Options, Query};
use super::source::Sampling;
use super::text::Text;
use crate::jobs::timely::{execute, generator, SourcePlan, Split};
use crate::latency::Recorder;
use crate::summary::RunStats;

/// The granularity of the event-time timestamps, in ms.
pub const TICK_MS: i64 = 10;

/// The queries that have a timely peer.
pub const QUERIES: [Query; 6] = [
    Query::Q0,
    Query::Q1,
    Query::Q2,
    Query::Q5,
    Query::Q7,
    Query::Q8,
];

/// An event and the birth time it carries for latency (0 if not sampled).
type Born<T> = (T, u64);

/// Runs `options` on timely-dataflow, pinned if `pin`.
pub fn run(options: &Options, pin: bool) -> Result<RunStats, NexmarkError> {
    let query = options.query;
    if !QUERIES.contains(&query) || options.input.is_some() || options.output.is_some() {
        return Err(NexmarkError::Usage(format!(
            "--engine timely runs q0, q1, q2, q5, q7 and q8 on generated events without \
             --output; {} {}",
            query.name(),
            "needs --engine tidewater"
        )));
    }
    let plan = SourcePlan {
        events: options.events,
        rate: options.rate,
        split: Split::Interleaved,
    };
    let generator = NexmarkGenerator::new(options.generator.clone());
    let (sampling, bound) = (
        Sampling::new(options.latency_sample),
        options.out_of_orderness_ms,
    );
    let stats = execute(
        options.shards,
        pin,
        options.events,
        move |worker, recorder, generated| {
            let generator = generator.clone();
            let make = move |index: u64, position: u64| -> Born<Event> {
                (generator.event(index), sampling.born_ns(position))
            };
            if matches!(query, Query::Q0 | Query::Q1 | Query::Q2) {
                worker.dataflow::<(), _, _>(move |scope| {
                    let events =
                        generator_stream(scope, plan, generated, move |i, p| ((), make(i, p)));
                    match query {
                        Query::Q0 => stateless(events, q0::row, recorder),
                        Query::Q1 => stateless(events, q1::row, recorder),
                        _ => stateless(events, q2::row, recorder),
                    }
                });
            } else {
                worker.dataflow::<u64, _, _>(move |scope| {
                    let watermark = Cell::new(0i64);
                    let events = generator_stream(scope, plan, generated, move |i, p| {
                        let (event, born_ns) = make(i, p);
                        watermark.set(watermark.get().max(event.date_time() - bound));
                        let time = watermark.get().div_euclid(TICK_MS) * TICK_MS;
                        (time.max(0) as u64, (event, born_ns))
                    });
                    match query {
                        Query::Q5 => hot_items(events, recorder),
                        Query::Q7 => highest_bid(events, recorder),
                        _ => new_users(events, recorder),
                    }
                });
            }
        },
    );
    stats.map_err(|error| NexmarkError::Usage(error.to_string()))
}

/// The generator as a timely stream (see [`generator`]).
fn generator_stream<'s, T: Timestamp>(
    scope: Scope<'s, T>,
    plan: SourcePlan,
    generated: Arc<AtomicU64>,
    make: impl Fn(u64, u64) -> (T, Born<Event>) + 'static,
) -> Stream<'s, T, Vec<Born<Event>>> {
    generator(scope, plan, generated, make)
}

/// Records a result row in the sink's recorder.
fn record<R: ResultRow>(recorder: &mut Recorder, row: &R, born_ns: u64) {
    recorder.record(born_ns, row.checksum());
}

/// q0–q2: each event's row, if it has one, straight into the sink on the same worker.
fn stateless<R: ResultRow>(
    events: Stream<'_, (), Vec<Born<Event>>>,
    row: fn(Event) -> Option<R>,
    mut recorder: Recorder,
) {
    events.sink(Pipeline, "sink", move |(input, _frontier)| {
        input.for_each(|_capability, events| {
            for (event, born_ns) in events.drain(..) {
                if let Some(row) = row(event) {
                    record(&mut recorder, &row, born_ns);
                }
            }
        });
    });
}

/// The open windows of an operator by their last millisecond, each with the capability to
/// emit its result at and its state.
struct OpenWindows<S> {
    open: BTreeMap<u64, (Capability<u64>, S)>,
}

impl<S: Default> OpenWindows<S> {
    fn new() -> Self {
        Self {
            open: BTreeMap::new(),
        }
    }

    /// The state of the window ending (inclusive) at `last`, opened with `capability` if new.
    fn at(&mut self, last: u64, capability: impl FnOnce() -> Capability<u64>) -> &mut S {
        &mut self
            .open
            .entry(last)
            .or_insert_with(|| (capability(), S::default()))
            .1
    }

    /// Removes and hands to `close` every window whose last millisecond the frontier has
    /// passed (`pending(last)` false), in time order.
    fn close(
        &mut self,
        pending: impl Fn(&u64) -> bool,
        mut close: impl FnMut(&Capability<u64>, u64, S),
    ) {
        while let Some(entry) = self.open.first_entry() {
            if pending(entry.key()) {
                break;
            }
            let (last, (capability, state)) = entry.remove_entry();
            close(&capability, last, state);
        }
    }
}

/// Mixes a key so that timely's exchange, which routes by the low bits, spreads it evenly.
fn spread(key: i64) -> u64 {
    (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
}

/// q5: bids per auction and sliding window (exchanged by auction), then per window (exchanged
/// by window) the auctions with the largest count.
fn hot_items(events: Stream<'_, u64, Vec<Born<Event>>>, mut recorder: Recorder) {
    let (size, slide) = (q5::SIZE.as_millis() as i64, q5::SLIDE.as_millis() as i64);
    // (auction, date_time, born)
    let bids = events.unary(Pipeline, "bids", |_, _| {
        move |input, output| {
            input.for_each(|capability, events| {
                let bids = events.drain(..).filter_map(|(event, born_ns)| {
                    event
                        .into_bid()
                        .map(|bid| (bid.auction, bid.date_time, born_ns))
                });
                output.session(&capability).give_iterator(bids);
            });
        }
    });
    // (window start, auction, count, born)
    let counts = bids
        .unary_frontier::<CapacityContainerBuilder<Vec<(i64, i64, u64, u64)>>, _, _, _>(
            Exchange::new(|&(auction, _, _): &(i64, i64, u64)| spread(auction)),
            "q5-count",
            |_, _| {
                let mut windows = OpenWindows::<HashMap<i64, (u64, u64)>>::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|capability, bids| {
                        for &(auction, time, born_ns) in bids.iter() {
                            let mut start = time - time.rem_euclid(slide);
                            while start > time - size {
                                let last = (start + size - 1) as u64;
                                let counts = windows.at(last, || capability.delayed(&last, port));
                                let count = counts.entry(auction).or_default();
                                *count = (count.0 + 1, count.1.max(born_ns));
                                start -= slide;
                            }
                        }
                    });
                    windows.close(
                        |last| frontier.less_equal(last),
                        |capability, last, counts| {
                            let start = last as i64 + 1 - size;
                            output.session(capability).give_iterator(
                                counts
                                    .into_iter()
                                    .map(|(auction, (n, born))| (start, auction, n, born)),
                            );
                        },
                    );
                }
            },
        );
    counts
        .unary_frontier::<CapacityContainerBuilder<Vec<Born<q5::Row>>>, _, _, _>(
            Exchange::new(|&(start, _, _, _): &(i64, i64, u64, u64)| spread(start)),
            "q5-max",
            |_, _| {
                // Per window: (largest count, its auctions, newest birth).
                let mut windows = OpenWindows::<(u64, Vec<i64>, u64)>::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|capability, counts| {
                        // Results come in under their window's last millisecond.
                        let Some(&last) = capability.least() else {
                            return;
                        };
                        let top = windows.at(last, || capability.delayed(&last, port));
                        for &(_, auction, num, born_ns) in counts.iter() {
                            top.2 = top.2.max(born_ns);
                            if num > top.0 {
                                *top = (num, vec![auction], top.2);
                            } else if num == top.0 {
                                top.1.push(auction);
                            }
                        }
                    });
                    windows.close(
                        |last| frontier.less_equal(last),
                        |capability, last, top| {
                            let (num, auctions, born_ns) = top;
                            let window_end = last as i64 + 1;
                            output
                                .session(capability)
                                .give_iterator(auctions.into_iter().map(|auction| {
                                    let row = q5::Row {
                                        auction,
                                        num,
                                        window_start: window_end - size,
                                        window_end,
                                    };
                                    (row, born_ns)
                                }));
                        },
                    );
                }
            },
        )
        .sink(Pipeline, "sink", move |(input, _)| {
            input.for_each(|_, rows| {
                for (row, born_ns) in rows.iter() {
                    record(&mut recorder, row, *born_ns);
                }
            });
        });
}

/// The highest-priced bids seen (all ties) and the newest birth among all bids seen.
#[derive(Default)]
struct Top {
    bids: Vec<Bid>,
    born_ns: u64,
}

impl Top {
    fn add(&mut self, bids: impl IntoIterator<Item = Bid>, born_ns: u64) {
        self.born_ns = self.born_ns.max(born_ns);
        for bid in bids {
            match self.bids.first().map(|best| bid.price.cmp(&best.price)) {
                None | Some(std::cmp::Ordering::Greater) => self.bids = vec![bid],
                Some(std::cmp::Ordering::Equal) => self.bids.push(bid),
                Some(std::cmp::Ordering::Less) => {}
            }
        }
    }
}

/// q7: each worker's top bids per tumbling window (no exchange), then per window (exchanged
/// by window) the top of the workers' tops.
fn highest_bid(events: Stream<'_, u64, Vec<Born<Event>>>, mut recorder: Recorder) {
    let size = q7::SIZE.as_millis() as i64;
    // (window start, the worker's top bids, newest birth)
    let local = events
        .unary_frontier::<CapacityContainerBuilder<Vec<(i64, Vec<Bid>, u64)>>, _, _, _>(
            Pipeline,
            "q7-local",
            |_, _| {
                let mut windows = OpenWindows::<Top>::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|capability, events| {
                        for (event, born_ns) in events.drain(..) {
                            let Event::Bid(bid) = event else { continue };
                            let last =
                                (bid.date_time - bid.date_time.rem_euclid(size) + size - 1) as u64;
                            windows
                                .at(last, || capability.delayed(&last, port))
                                .add([bid], born_ns);
                        }
                    });
                    windows.close(
                        |last| frontier.less_equal(last),
                        |capability, last, top| {
                            let start = last as i64 + 1 - size;
                            output
                                .session(capability)
                                .give((start, top.bids, top.born_ns));
                        },
                    );
                }
            },
        );
    local
        .unary_frontier::<CapacityContainerBuilder<Vec<Born<q7::Row>>>, _, _, _>(
            Exchange::new(|(start, _, _): &(i64, Vec<Bid>, u64)| spread(*start)),
            "q7-global",
            |_, _| {
                let mut windows = OpenWindows::<Top>::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|capability, tops| {
                        // Results come in under their window's last millisecond.
                        let Some(&last) = capability.least() else {
                            return;
                        };
                        let top = windows.at(last, || capability.delayed(&last, port));
                        for (_, bids, born_ns) in tops.drain(..) {
                            top.add(bids, born_ns);
                        }
                    });
                    windows.close(
                        |last| frontier.less_equal(last),
                        |capability, last, top| {
                            let window_end = last as i64 + 1;
                            let born_ns = top.born_ns;
                            output
                                .session(capability)
                                .give_iterator(top.bids.into_iter().map(|bid| {
                                    let row = q7::Row {
                                        auction: bid.auction,
                                        price: bid.price,
                                        bidder: bid.bidder,
                                        date_time: bid.date_time,
                                        extra: bid.extra,
                                        window_end,
                                    };
                                    (row, born_ns)
                                }));
                        },
                    );
                }
            },
        )
        .sink(Pipeline, "sink", move |(input, _)| {
            input.for_each(|_, rows| {
                for (row, born_ns) in rows.iter() {
                    record(&mut recorder, row, *born_ns);
                }
            });
        });
}

/// q8: people (with their name) and auctions (by seller) exchanged by person id; per
/// tumbling window and person, the name if created in it and whether they sold in it.
fn new_users(events: Stream<'_, u64, Vec<Born<Event>>>, mut recorder: Recorder) {
    let size = q8::SIZE.as_millis() as i64;
    // (person id, name if this is the person's creation, date_time, born)
    type Sighting = (i64, Option<Text>, i64, u64);
    let sightings = events.unary(Pipeline, "sightings", |_, _| {
        move |input, output| {
            input.for_each(|capability, events| {
                let sightings = events.drain(..).filter_map(|(event, born_ns)| match event {
                    Event::Person(p) => Some((p.id, Some(p.name), p.date_time, born_ns)),
                    Event::Auction(a) => Some((a.seller, None, a.date_time, born_ns)),
                    Event::Bid(_) => None,
                });
                output.session(&capability).give_iterator(sightings);
            });
        }
    });
    sightings
        .unary_frontier::<CapacityContainerBuilder<Vec<Born<q8::Row>>>, _, _, _>(
            Exchange::new(|&(id, _, _, _): &Sighting| spread(id)),
            "q8-window",
            |_, _| {
                // Per window and person: (name, sold, newest birth).
                let mut windows = OpenWindows::<HashMap<i64, (Option<Text>, bool, u64)>>::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|capability, sightings| {
                        for (id, name, time, born_ns) in sightings.drain(..) {
                            let last = (time - time.rem_euclid(size) + size - 1) as u64;
                            let people = windows.at(last, || capability.delayed(&last, port));
                            let seen = people.entry(id).or_default();
                            seen.1 |= name.is_none();
                            seen.0 = seen.0.take().or(name);
                            seen.2 = seen.2.max(born_ns);
                        }
                    });
                    windows.close(
                        |last| frontier.less_equal(last),
                        |capability, last, people| {
                            let window_start = last as i64 + 1 - size;
                            let rows =
                                people
                                    .into_iter()
                                    .filter_map(|(id, (name, sold, born_ns))| {
                                        let name = name.filter(|_| sold)?;
                                        Some((
                                            q8::Row {
                                                id,
                                                name,
                                                window_start,
                                            },
                                            born_ns,
                                        ))
                                    });
                            output.session(capability).give_iterator(rows);
                        },
                    );
                }
            },
        )
        .sink(Pipeline, "sink", move |(input, _)| {
            input.for_each(|_, rows| {
                for (row, born_ns) in rows.iter() {
                    record(&mut recorder, row, *born_ns);
                }
            });
        });
}
