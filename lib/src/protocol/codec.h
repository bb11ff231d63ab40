// codec.h: PMP/1 messages <-> ZeroMQ frames (docs/PROTOCOL.md is the full spec).
//
// A PMP/1 message is one envelope frame ("PMP1", a command byte, one msgpack map of
// header keys) followed by zero or more opaque payload frames (DATA, REQUEST, REPLY
// only). Since protocol 1.1 a small single payload may instead ride in the envelope,
// after the header map: libzmq pays more per frame than copying a KiB costs. The
// codec turns frames into a typed Message and back. It is pure: it owns no socket
// and keeps no state between messages except a reusable msgpack zone.
//
//   pmp::Decoder decoder;
//   Result<pmp::Message> m = decoder.Decode(frames, /*first=*/1);  // after routing id
//   if (!m.ok()) reply ERROR m.status().pmp_code() (400) with m.status().message();
//   std::vector<zmq::message_t> out = pmp::Encode(pmp::Ping{.t = now_us});
//
// Payload frames are moved in and out, never copied, except an inline payload (at
// most kMaxInlinePayload bytes), which is copied once each way. Decoder is not thread-safe: one
// per thread (the I/O thread owns one). Encode is safe to call from any thread.
#ifndef PROCMOD_SRC_PROTOCOL_CODEC_H_
#define PROCMOD_SRC_PROTOCOL_CODEC_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include "procmod/result.h"

namespace procmod::pmp {

inline constexpr std::string_view kSignature = "PMP1";
inline constexpr std::string_view kProtocolVersion = "1.2";
inline constexpr size_t kMinEnvelopeSize = 6;  // signature, command, at least 0x80

enum class Command : uint8_t {
  kHello = 0x01,
  kWelcome = 0x02,
  kDeny = 0x03,
  kPing = 0x04,
  kBye = 0x05,
  kData = 0x06,
  kRequest = 0x07,
  kReply = 0x08,
  kError = 0x09,
  kJoined = 0x0A,
  kLeft = 0x0B,
  kResume = 0x0C,   // protocol 1.2
  kResumed = 0x0D,  // protocol 1.2
};

// Parses "MAJOR.MINOR" (MINOR optional). False when it is not of that form.
bool ParseProtocolVersion(std::string_view text, uint32_t& major, uint32_t& minor);

// "HELLO", "WELCOME", ... ; "UNKNOWN" for a value outside the enum.
std::string_view CommandName(Command command);

// The codes of DENY, ERROR and REPLY (docs/PROTOCOL.md §7).
enum Code : uint32_t {
  kCodeOk = 0,
  kCodeMalformed = 400,
  kCodeForbidden = 403,
  kCodeUnknownSession = 404,
  kCodeBusy = 409,
  kCodeGone = 410,  // RESUME for a session that cannot be resumed
  kCodeTooLarge = 413,
  kCodeUnsupportedVersion = 426,
  kCodeFull = 503,
};

// The reasons of the BYE a broker sends a server's clients (§12): the server said BYE,
// or it was lost (expired, crashed). Both ends read them, so they are spelled once.
inline constexpr std::string_view kByeServerLeft = "server left";
inline constexpr std::string_view kByeServerLost = "server lost";

// Header structs, one per command. A std::string that is empty and an unset
// std::optional mean "key absent" for optional keys. `args` and `result` hold one
// msgpack-encoded value (empty = absent) so the codec never interprets them.

struct Hello {
  uint64_t connect_id = 0;
  std::string role;  // required: client, server, data-server, render-server
  std::string name;
  std::string version;  // required: protocol MAJOR.MINOR
  std::string software;
  uint64_t heartbeat_ms = 0;  // 0: no preference
  std::string service;        // broker only
  bool multi = false;         // broker only, servers
  bool resume = false;        // 1.2: the sender can resume this session
  // 1.2, a server registering with a broker: it resumes its clients' sessions, with
  // this grace (the broker offers their resume in its WELCOME). 0: absent.
  uint64_t resume_grace_ms = 0;
};

struct Welcome {
  std::string session;  // required
  std::string role;
  std::string name;
  std::string version;  // required
  std::string software;
  uint64_t heartbeat_ms = 0;  // required
  uint64_t liveness = 0;      // required
  bool multi = false;
  std::optional<uint64_t> expires_in_ms;  // remaining server lifetime, when known
  // 1.2, resumable sessions only: both set (written) or both absent.
  std::string resume_token;      // what RESUME presents
  uint64_t resume_grace_ms = 0;  // how long a lost session is kept; >= 1 when set
};

struct Deny {
  uint32_t code = 0;  // required
  std::string reason;
};

struct Ping {
  uint64_t t = 0;                // required: sender's monotonic clock, µs
  std::optional<uint64_t> echo;  // last `t` received from the peer
  std::optional<uint64_t> held;  // µs between receiving `echo` and sending this
  std::optional<uint64_t> ack;   // 1.2: highest seq received in order
  std::optional<uint64_t> sent;  // 1.2: highest seq sent so far
  bool resend = false;           // 1.2: send again everything after `ack`
  // 1.2, broker legs: the relayed client whose session `ack`, `sent` and `resend`
  // are about (server leg; the broker carries them to and from that client).
  std::string peer;
};

struct Bye {
  std::string reason;
  std::string peer;  // 1.2, server leg to a broker: ends that relayed client's session
};

// `seq` and `ack` (protocol 1.2, resumable sessions only): 0 means absent.
struct Data {
  std::string channel;
  std::string peer;  // broker leg only
  uint64_t seq = 0;  // this side's number for the message, 1, 2, 3, ...
  uint64_t ack = 0;  // highest seq received in order from the other side
};

struct Request {
  uint64_t id = 0;     // required
  std::string method;  // required
  std::string args;    // msgpack map, encoded; empty = absent
  std::string peer;
  uint64_t seq = 0;
  uint64_t ack = 0;
};

struct Reply {
  uint64_t id = 0;    // required
  uint32_t code = 0;  // required; 0 = ok
  std::string error;
  std::string result;  // one msgpack value, encoded; empty = absent
  std::string peer;
  uint64_t seq = 0;
  uint64_t ack = 0;
};

struct Error {
  uint32_t code = 0;  // required
  std::string reason;
};

struct Joined {
  std::string session;  // required
  std::string name;
  std::string role;
  // 1.2: the client's resume token (the broker gave it in its WELCOME); with
  // `resume`, this JOINED asks the server to resume that session instead, the client
  // having received up to `received` (required then).
  std::string resume_token;
  bool resume = false;
  uint64_t received = 0;
};

struct Left {
  std::string session;  // required
  std::string reason;   // "bye" or "expired"
};

// Connecting side, on a new connection instead of HELLO (protocol 1.2).
struct Resume {
  std::string session;    // required
  std::string token;      // required: WELCOME's resume_token
  uint64_t received = 0;  // required: highest seq received in order
  std::string service;    // to a broker: the service (a restarted broker knows no session)
};

// Accepting side, answers a RESUME it accepts (protocol 1.2).
struct Resumed {
  std::string session;    // required
  uint64_t received = 0;  // required: highest seq received in order
};

// Alternatives in command order, so index() + 1 is the command byte.
using Header = std::variant<Hello, Welcome, Deny, Ping, Bye, Data, Request, Reply, Error, Joined,
                            Left, Resume, Resumed>;

inline Command CommandOf(const Header& header) { return static_cast<Command>(header.index() + 1); }

// True for the commands that may carry payload frames (DATA, REQUEST, REPLY).
bool TakesPayload(Command command);

using Frames = std::vector<zmq::message_t>;

struct Message {
  Header header;
  Frames payload;

  Command command() const { return CommandOf(header); }
};

// The largest payload that rides in the envelope (PROTOCOL §5.4). Measured on 2
// cores: a second frame costs a 64-byte DATA stream a third of its rate, while
// copying 1 KiB twice (into the envelope, out of it) costs about 60 ns.
inline constexpr size_t kMaxInlinePayload = 1024;

// How a sender may lay out a payload: as frames of their own (any peer), or, for a
// payload of exactly one frame of 1 to kMaxInlinePayload bytes, inside the envelope
// (a peer of protocol 1.1 or later: PayloadFormFor).
enum class PayloadForm { kFrames, kInlineSmall };

// kInlineSmall when a peer that says `version` (its HELLO or WELCOME) decodes inline
// payloads, i.e. major 1 and minor >= 1; else kFrames.
PayloadForm PayloadFormFor(std::string_view version);

// True when `payload` may ride in the envelope under `form`.
bool InlinesPayload(PayloadForm form, const Frames& payload);

// The envelope frame for `header`.
zmq::message_t EncodeEnvelope(const Header& header);

// The envelope frame for `header` and `payload` laid out under `form`: a payload
// that rides inline is copied into the envelope and taken out of `payload`, which
// otherwise keeps the frames to send after the envelope. `*bytes`, when asked for,
// is where the envelope's bytes are if moving the returned frame cannot move them
// (they are larger than a zmq_msg_t, so libzmq holds them apart from it), and
// empty otherwise: it saves a copier such as the resume buffer two calls into
// libzmq per message. Valid until the frame is sent or closed.
zmq::message_t EncodeEnvelope(const Header& header, Frames& payload, PayloadForm form,
                              std::span<const char>* bytes = nullptr);

// EncodeEnvelope(Header(data), payload, form, bytes), byte for byte, written
// straight into the frame: no header buffer to fill and copy. DATA is what an
// application streams; a 64 B message costs its sender about a tenth less this way.
zmq::message_t EncodeDataEnvelope(const Data& data, Frames& payload, PayloadForm form,
                                  std::span<const char>* bytes = nullptr);

// What a relay (the broker) sends on for a DATA, REQUEST or REPLY it received and
// decoded: the received `envelope`'s header map with every `peer` key taken out and,
// unless `peer` is empty, `peer: <peer>` added, every other entry byte for byte
// (unknown keys included: a relay must not strip what a newer sender and receiver
// agree on, PROTOCOL §12), then the frames of `payload`, the decoded message's
// payload (an inline payload as its first frame), moved out and laid out under
// `form` as Encode lays them out; the caller keeps the vector for its next message.
// nullopt
// when `envelope` does not hold a well-formed header map, which a successful decode
// rules out.
std::optional<Frames> EncodeRelayed(const zmq::message_t& envelope, std::string_view peer,
                                    Frames& payload, PayloadForm form);

// Envelope followed by `payload` (moved), or, when `form` allows it, one frame
// holding both. Throws std::invalid_argument when payload is given for a command
// that takes none: that is a programmer error.
Frames Encode(const Header& header, Frames payload = {}, PayloadForm form = PayloadForm::kFrames);

// ERROR `code` `reason`, encoded: the answer to a message that was not accepted
// (§6.9), on either side of any link.
Frames ErrorFrames(uint32_t code, std::string reason);
// ERROR 413 for a message of `bytes` (frames after the routing id) over `limit`
// (limits.max_message_size): such a message is dropped undecoded (§7).
Frames TooLargeFrames(uint64_t bytes, uint64_t limit);

// Turns frames[first..] into a Message, moving the payload frames out of `frames`
// (an inline payload becomes the first payload frame). Errors are InvalidArgument
// with pmp_code() 400 and a reason naming what is wrong: no envelope, too short,
// signature, unknown command, header not a map, bytes after it on a command that
// takes no payload, a key of the wrong type, a required key missing, payload frames
// where none is taken.
class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  Result<Message> Decode(Frames& frames, size_t first = 0);
  // The header alone: bytes after the map are malformed here (no payload to put
  // them in), as they are on every command but DATA, REQUEST and REPLY.
  Result<Header> DecodeEnvelope(const zmq::message_t& envelope);
  // The same into a Message (or Header) the caller keeps and reuses: the receive
  // path decodes in place instead of moving the header variant around.
  Status DecodeInto(Frames& frames, size_t first, Message* message);
  // `header_end`: when given, bytes after the map are allowed on commands that take
  // a payload and *header_end is where the map ends (the envelope's size when
  // nothing follows it).
  Status DecodeEnvelopeInto(const zmq::message_t& envelope, Header* header,
                            size_t* header_end = nullptr);

 private:
  struct Zone;
  std::unique_ptr<Zone> zone_;  // reused between messages: no per-message arena
};

}  // namespace procmod::pmp

#endif  // PROCMOD_SRC_PROTOCOL_CODEC_H_
