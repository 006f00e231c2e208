//! Discovery at scale on the dnssd crate's simulated LAN (the one its tests use): N nodes,
//! each a responder and a browser, start at random moments within one second; the figure
//! is the virtual time until every node's browser holds all the others, with the mDNS
//! packets and bytes each node sent until then, its multicast datagrams set against what
//! RFC 6762's schedule allows; its unicast ones (answers to QU questions, §5.4, which
//! reach one node rather than the whole link) are counted beside them. Virtual time: the figure does not depend on this machine's speed (the wall-clock
//! time the simulation took is printed beside it).
//!
//! Adds `sim_lan_converge_s` (1,000 nodes), `sim_lan_converge_s_10` / `_100` / `_1000`,
//! `sim_lan_packets_per_node`, `sim_lan_bytes_per_node`, `sim_lan_max_packets`,
//! `sim_lan_max_multicast`, `sim_lan_packets_bound_per_node`, `sim_lan_unicast_per_node`,
//! `sim_lan_max_unicast` and `sim_lan_wall_s` to `target/bench-summary.json`. `--quick` (from `cargo xtask bench
//! --quick`) runs the same sizes.

use std::time::{Duration, Instant};

#[path = "../../crates/dnssd/tests/sim/mod.rs"]
mod sim;

use sim::Lan;

/// How often convergence is checked, in virtual time: the resolution of the figure.
const STEP: Duration = Duration::from_millis(10);
/// Give up after this much virtual time.
const LIMIT: Duration = Duration::from_secs(60);

struct Outcome {
    nodes: usize,
    /// Virtual time from the first start until the last node held all others.
    converged: Option<Duration>,
    /// Mean datagrams and bytes a node sent until then.
    packets_per_node: f64,
    bytes_per_node: f64,
    /// The most datagrams any node sent until then.
    max_packets: u64,
    /// The most multicast datagrams any node sent until then: what `bound` limits.
    max_multicast: u64,
    bound: u64,
    /// Mean and most unicast datagrams (answers to QU questions) a node sent until then.
    unicast_per_node: f64,
    max_unicast: u64,
    wall: Duration,
}

/// The multicast datagrams one node may send in its first `seconds` by RFC 6762's schedule, on a
/// link of `nodes` nodes whose instance names are `instance_len` bytes:
/// - 3 probes (§8.1);
/// - 2 announcements (§8.3, the minimum, which is what we send);
/// - browse queries at 0, 1, 3, 7, 15 … s (§5.2: intervals at least doubling from 1 s),
///   each carrying the PTR records it already knows (§7.1), split over several datagrams
///   when they do not fit in 9,000 bytes (§7.2, §17);
/// - answers: a record is multicast at most once a second (§6), so at most one answer a
///   second; announcements count among them.
fn rfc_bound(nodes: usize, instance_len: usize, seconds: u64) -> u64 {
    // A known answer: name compressed to a pointer (2), type, class, TTL, length (10), the
    // instance label (1 + len) and a pointer to the service name (2).
    let known_answer = 2 + 10 + 1 + instance_len + 2;
    let per_query = ((nodes - 1) * known_answer).div_ceil(9000 - 12 - 40).max(1) as u64;
    let mut queries = 0;
    let mut at = 0;
    let mut interval = 1;
    while at < seconds {
        queries += 1;
        at += interval;
        interval *= 2;
    }
    3 + queries * per_query + seconds.max(2)
}

fn converge(nodes: usize) -> Outcome {
    let wall = Instant::now();
    let mut lan = Lan::new();
    // Start times spread over one second by a fixed xorshift sequence.
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ nodes as u64;
    let mut starts: Vec<Duration> = (0..nodes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Duration::from_micros(state % 1_000_000)
        })
        .collect();
    starts.sort();
    for (n, at) in starts.iter().enumerate() {
        lan.run_until(*at);
        lan.add_node(Some(Lan::service(n, &format!("user{n}@host{n}"))));
    }
    let mut pending: Vec<usize> = (0..nodes).collect();
    let mut converged = None;
    let mut until = STEP;
    while until <= LIMIT {
        lan.run_until(until);
        pending.retain(|&n| lan.nodes[n].browser.services().count() < nodes - 1);
        if pending.is_empty() {
            converged = Some(until);
            break;
        }
        until += STEP;
    }
    // Traffic until the whole link converged (or gave up).
    let sent = &lan.sent;
    let packets: u64 = sent.iter().map(|s| s.0).sum();
    let bytes: u64 = sent.iter().map(|s| s.1).sum();
    let max_packets = sent.iter().map(|s| s.0).max().unwrap_or(0);
    let unicast = &lan.sent_unicast;
    let max_multicast = sent
        .iter()
        .zip(unicast)
        .map(|(s, u)| s.0 - u)
        .max()
        .unwrap_or(0);
    let unicast_per_node = unicast.iter().sum::<u64>() as f64 / nodes as f64;
    let max_unicast = unicast.iter().copied().max().unwrap_or(0);
    let instance_len = format!("user{n}@host{n}", n = nodes - 1).len();
    let seconds = converged.unwrap_or(LIMIT).as_secs_f64().ceil() as u64;
    let wall = wall.elapsed();
    // Freeing the 1,000-node link's million cache entries one by one took 13 s of this
    // process's last minutes and measures nothing: the process ends soon after.
    std::mem::forget(lan);
    Outcome {
        nodes,
        converged,
        packets_per_node: packets as f64 / nodes as f64,
        bytes_per_node: bytes as f64 / nodes as f64,
        max_packets,
        max_multicast,
        bound: rfc_bound(nodes, instance_len, seconds),
        unicast_per_node,
        max_unicast,
        wall,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; criterion's options from `cargo xtask bench` are
    // ignored: the simulation is deterministic, one run is the figure.
    let sizes = [10, 100, 1000];
    println!(
        "{:<8} {:>11} {:>13} {:>11} {:>12} {:>14} {:>10} {:>13} {:>12} {:>7}",
        "nodes",
        "converge s",
        "packets/node",
        "bytes/node",
        "max packets",
        "max multicast",
        "RFC bound",
        "unicast/node",
        "max unicast",
        "wall s"
    );
    let mut entries = serde_json::Map::new();
    let mut largest = None;
    for nodes in sizes {
        let outcome = converge(nodes);
        let converged = outcome.converged.map(|d| d.as_secs_f64());
        println!(
            "{:<8} {:>11} {:>13.1} {:>11.0} {:>12} {:>14} {:>10} {:>13.1} {:>12} {:>7.1}",
            outcome.nodes,
            converged.map_or("never".to_owned(), |s| format!("{s:.2}")),
            outcome.packets_per_node,
            outcome.bytes_per_node,
            outcome.max_packets,
            outcome.max_multicast,
            outcome.bound,
            outcome.unicast_per_node,
            outcome.max_unicast,
            outcome.wall.as_secs_f64()
        );
        entries.insert(
            format!("sim_lan_converge_s_{nodes}"),
            converged.map_or(serde_json::Value::Null, Into::into),
        );
        largest = Some((outcome, converged));
    }
    if let Some((outcome, converged)) = largest {
        entries.insert(
            "sim_lan_converge_s".into(),
            converged.map_or(serde_json::Value::Null, Into::into),
        );
        entries.insert(
            "sim_lan_packets_per_node".into(),
            outcome.packets_per_node.into(),
        );
        entries.insert(
            "sim_lan_bytes_per_node".into(),
            outcome.bytes_per_node.into(),
        );
        entries.insert("sim_lan_max_packets".into(), outcome.max_packets.into());
        entries.insert("sim_lan_max_multicast".into(), outcome.max_multicast.into());
        entries.insert(
            "sim_lan_unicast_per_node".into(),
            outcome.unicast_per_node.into(),
        );
        entries.insert("sim_lan_max_unicast".into(), outcome.max_unicast.into());
        entries.insert(
            "sim_lan_packets_bound_per_node".into(),
            outcome.bound.into(),
        );
        entries.insert("sim_lan_wall_s".into(), outcome.wall.as_secs_f64().into());
        if outcome.max_multicast > outcome.bound {
            println!(
                "sim_lan: a node multicast {} datagrams, more than RFC 6762's schedule allows ({})",
                outcome.max_multicast, outcome.bound
            );
        }
    }
    if let Err(error) = llxmpp_benches::add_to_summary(entries) {
        eprintln!("cannot write the summary: {error}");
    }
}
