// peers.h: the child-process roles of procmod-bench. The driver (cases.cc) starts
// them as `procmod-bench ROLE FLAGS...`; each prints "ready ..." on stdout when it
// can be used and then runs until the driver kills it (or, for hb-clients, until it
// reads "stop"; for raw-relay and raw-relay-echo, until stdin closes).
//
//   raw-echo --bind EP          raw ROUTER: sends every message back as it came
//   raw-sink --bind EP          raw ROUTER: counts messages; answers "END" with the count
//   raw-pmp-echo --bind EP      raw ROUTER speaking PMP/1 by hand on one thread: WELCOME,
//                               REPLY with the payload to any REQUEST, PING to PING
//   raw-relay --bind EP         raw ROUTER relaying on one thread: the first peer to send
//                               "SERVER" is the server; [client, payload...] goes to it
//                               as [server, client, payload...] and its answers back as
//                               [client, payload...]; prints "server registered"
//   raw-relay-echo --connect EP raw DEALER: sends "SERVER" to a raw-relay, then every
//                               message back as it came ([client, payload...])
//   pm-server --listen EP [--multi] [--interval-ms N] [--liveness N] [--max N]
//             [--resume-grace-ms MS]
//                               a process module server on the public API: "ping"
//                               echoes, "count" answers the DATA count; prints
//                               "gone SESSION REASON NS" when a peer's session ends
//                               (--resume-grace-ms 0: session resume off)
//   pm-client --connect URL     a process module client that connects and idles
//   rtt-probe --connect URL --mode pm|raw [--n N] [--size B] [--method M]
//                               N round trips from a process of its own (procmod client
//                               module or raw DEALER), for perf stat and callgrind;
//                               pm: REQUEST M (default ping; parallel.echo to a
//                               parallel server)
//   send-probe --connect URL [--n N] [--size B] [--window W] [--resume-grace-ms MS]
//                               Connection::Send() N times to a pm-server, then counts
//                               what arrived (REQUEST "count"); for perf and callgrind
//   pm-probe --rtt URL --data URL [--resume-grace-ms MS]
//                               a client module dialing a procmod server (--rtt) and a
//                               pm-server (--data), steered over stdin: "rtt N SIZE"
//                               times N round trips, "send N SIZE" N Send()s (the
//                               resume case runs one with resume on and one off)
//   hb-clients --connect EP --n N --proto pmp|raw [--interval-ms N] [--timeout-ms N]
//              [--window K]     N raw DEALERs: on "go" each connects and sends HELLO
//                               (PMP/1 bytes, by hand) and waits for its first answer
//                               (all at once, or at most K unanswered at a time), then
//                               PINGs every interval; prints "admitted COUNT START_NS
//                               LAST_NS" and, on "stop", "stats key=value ..."
//   bulk-sink --listen EP --mode pm|raw
//                               the receiving side of the bulk case (bulk.cc): counts
//                               one-way messages and their bytes, answers "count"
//                               (pm: a REQUEST; raw: the frame "END") with "MESSAGES
//                               BYTES", echoes a request's payload (pm: REQUEST
//                               "echo"; raw: the frames ["E", payload])
//   bulk-probe --connect EP --mode pm|raw --size B
//                               the sending side: a B-byte buffer of its own, sent
//                               without a copy, steered over stdin: "send N" N
//                               one-way messages, then "count" ("send SECONDS");
//                               "rr N" N requests of B bytes, each echoed ("rr SECONDS")
#ifndef PROCMOD_BENCH_PEERS_H_
#define PROCMOD_BENCH_PEERS_H_

#include <string>
#include <vector>

namespace procmod::bench {

// Runs ROLE with its flags; the process exit code. -1 when ROLE is not a peer role.
int RunPeerRole(const std::string& role, const std::vector<std::string>& args);

}  // namespace procmod::bench

#endif  // PROCMOD_BENCH_PEERS_H_
