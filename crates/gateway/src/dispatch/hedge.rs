//! Hedging: the first attempt gets the model's recent-percentile delay; if it has not
//! answered by then (first token of a stream, whole answer otherwise), a copy goes to
//! the next deployment in order that has room, budget permitting, and the first to
//! answer wins. The loser is cancelled; its slot (and when it was sent) comes back to
//! the caller, which records its prompt as spent.

use metrics::counter;
use std::collections::VecDeque;
use std::sync::Arc;

use super::{Call, Finished, attempt, sending};
use crate::routing::deployment::{Deployment, Permit};
use crate::routing::hedger::Hedger;
use crate::series::Event;
use crate::trail::{Reason, Sent};

/// The first attempt, raced by a hedge once it is slower than the model's recent
/// percentile. Returns the attempts that finished, in the order they finished (stopping
/// at the first success), and the slot of an attempt cancelled because the other won.
pub(super) async fn race(
    call: &Call<'_>,
    hedger: &Hedger,
    first: Permit,
    queue: &mut VecDeque<Arc<Deployment>>,
    attempts: &mut u32,
    reason: Reason,
) -> (Finished, Option<(Permit, Sent)>) {
    let stream = call.stream;
    *attempts += 1;
    let sent_a = sending(call.ctx, reason);
    let a = attempt(call, Arc::clone(first.deployment()), stream, &sent_a);
    tokio::pin!(a);
    tokio::select! {
        r = &mut a => return (vec![(first, sent_a, r)], None),
        () = tokio::time::sleep(hedger.delay(stream)) => {}
    }
    // The hedge goes to the next deployment in order that has room.
    let Some(pos) = queue
        .iter()
        .position(|d| d.max_concurrency.is_none_or(|m| d.outstanding() < m))
    else {
        return (vec![(first, sent_a, a.await)], None);
    };
    let Ok(second) = queue[pos].try_acquire(call.t.reserve) else {
        return (vec![(first, sent_a, a.await)], None);
    };
    if !hedger.withdraw() {
        counter!("switchyard_hedge_budget_exhausted_total").increment(1);
        return (vec![(first, sent_a, a.await)], None);
    }
    queue.remove(pos);
    *attempts += 1;
    let d = second.deployment();
    counter!("switchyard_hedges_total", "provider" => d.provider.clone(), "deployment" => d.name.clone())
        .increment(1);
    call.st.stats.event(Event::Hedge);
    tracing::debug!(request_id = %call.ctx.request_id, to = %d.name, "first attempt slow; hedging");
    let sent_b = sending(call.ctx, Reason::Hedge);
    let b = attempt(call, Arc::clone(second.deployment()), stream, &sent_b);
    tokio::pin!(b);
    tokio::select! {
        r = &mut a => {
            if r.is_ok() {
                return (vec![(first, sent_a, r)], Some((second, sent_b)));
            }
            let rb = b.await;
            (vec![(first, sent_a, r), (second, sent_b, rb)], None)
        }
        r = &mut b => {
            if r.is_ok() {
                counter!("switchyard_hedge_wins_total").increment(1);
                call.st.stats.event(Event::HedgeWon);
                return (vec![(second, sent_b, r)], Some((first, sent_a)));
            }
            let ra = a.await;
            (vec![(second, sent_b, r), (first, sent_a, ra)], None)
        }
    }
}
