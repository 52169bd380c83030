//! The winning bid of every auction, which q4, q6 and q9 build on: the highest bid with
//! `auction.date_time <= bid.date_time <= auction.expires`; ties go to the earlier
//! `date_time`, then the smaller `bidder`, then the earlier input position. Auctions with no
//! such bid have no winner.
//!
//! Auctions and bids meet on a connected stream keyed by auction id. An auction's result is
//! final once the watermark passes its `expires` (no bid that counts can come later), so it
//! is emitted then, once, and the auction's state is dropped. A bid that comes before its
//! auction waits; once the watermark passes the bid's own `date_time`, any auction it could
//! count for has arrived, so a bid still waiting then is dropped. State is therefore bounded
//! by the auctions open at the watermark.

use tidewater::operators::{Context, KeyedCoProcessFunction, TimeDomain};
use tidewater::prelude::Timestamp;
use tidewater::state::KeyedStates;
use tidewater::state::{ListState, ValueState};
use tidewater::DataStream;

use super::{by_kind, newest, ByKind};
use crate::nexmark::event::{Auction, Bid, Event};
use crate::nexmark::source::Stamped;

/// An auction and its winning bid.
pub type Winner = Stamped<(Auction, Bid)>;

/// The keyed co-process function (first input: auctions; second: bids).
#[derive(Clone, Default)]
struct WinningBid {
    auction: ValueState<i64, Stamped<Auction>>,
    best: ValueState<i64, Stamped<Bid>>,
    waiting: ListState<i64, Stamped<Bid>>,
}

/// Whether `bid` beats `best`: a higher price, then an earlier time, a smaller bidder, an
/// earlier input position.
pub fn beats(bid: &Stamped<Bid>, best: &Stamped<Bid>) -> bool {
    let rank = |b: &Stamped<Bid>| {
        (
            std::cmp::Reverse(b.value.price),
            b.value.date_time,
            b.value.bidder,
            b.seq,
        )
    };
    rank(bid) < rank(best)
}

impl WinningBid {
    /// Keeps `bid` if it counts for `auction` and beats the best so far.
    fn consider(&mut self, auction: &Auction, bid: Stamped<Bid>, ctx: &Context<'_, i64, Winner>) {
        let counts = (auction.date_time..=auction.expires).contains(&bid.value.date_time);
        if counts && self.best.value(ctx).is_none_or(|best| beats(&bid, best)) {
            self.best.update(ctx, bid);
        }
    }
}

impl KeyedCoProcessFunction<i64, Stamped<Auction>, Stamped<Bid>, Winner> for WinningBid {
    fn states(&mut self, states: &mut KeyedStates<'_, i64>) {
        states.register("auction", &mut self.auction);
        states.register("best", &mut self.best);
        states.register("waiting", &mut self.waiting);
    }

    fn process_first(&mut self, auction: Stamped<Auction>, ctx: &mut Context<'_, i64, Winner>) {
        ctx.register_event_time_timer(auction.value.expires);
        let waiting = self.waiting.get(&*ctx).to_vec();
        if !waiting.is_empty() {
            self.waiting.update(&*ctx, Vec::new());
        }
        for bid in waiting {
            self.consider(&auction.value, bid, ctx);
        }
        self.auction.update(&*ctx, auction);
    }

    fn process_second(&mut self, bid: Stamped<Bid>, ctx: &mut Context<'_, i64, Winner>) {
        match self.auction.value(&*ctx).cloned() {
            Some(auction) => self.consider(&auction.value, bid, ctx),
            None => {
                ctx.register_event_time_timer(bid.value.date_time);
                self.waiting.add(&*ctx, bid);
            }
        }
    }

    fn on_timer(&mut self, time: Timestamp, _: TimeDomain, ctx: &mut Context<'_, i64, Winner>) {
        let closes = self
            .auction
            .value(&*ctx)
            .is_some_and(|auction| auction.value.expires <= time);
        if closes {
            let auction = self.auction.value(&*ctx).cloned().expect("checked above");
            self.auction.clear(&*ctx);
            if let Some(best) = self.best.value(&*ctx).cloned() {
                self.best.clear(&*ctx);
                ctx.emit(Stamped {
                    born_ns: newest(auction.born_ns, best.born_ns),
                    seq: best.seq,
                    value: (auction.value, best.value),
                });
            }
            return;
        }
        // Bids that waited for an auction that can no longer come.
        let waiting = self.waiting.get(&*ctx);
        if waiting.iter().any(|bid| bid.value.date_time <= time) {
            let left = waiting
                .iter()
                .filter(|bid| bid.value.date_time > time)
                .cloned()
                .collect();
            self.waiting.update(&*ctx, left);
        }
    }
}

/// Every auction of `events` that has a winning bid, with it, when the watermark passes the
/// auction's `expires` (its event time).
pub fn winning_bids(events: &DataStream<Stamped<Event>>) -> DataStream<Winner> {
    let ByKind { auctions, bids, .. } = by_kind(events);
    auctions
        .connect(&bids)
        .key_by(
            |auction: &Stamped<Auction>| auction.value.id,
            |bid: &Stamped<Bid>| bid.value.auction,
        )
        .process(WinningBid::default())
        .name("winning-bids")
        .event_time(|winner: &Winner| winner.value.0.expires)
}
