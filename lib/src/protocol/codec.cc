#include "protocol/codec.h"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include <msgpack.hpp>

namespace procmod::pmp {
namespace {

constexpr size_t kMaxHeaderDepth = 32;

Status Malformed(std::string_view reason) {
  return Status(StatusCode::kInvalidArgument, reason, kCodeMalformed);
}

// ---- encoding -------------------------------------------------------------

// `value` with its bytes in network order, to be stored with memcpy.
template <typename T>
T BigEndian(T value) {
  if constexpr (std::endian::native == std::endian::big) {
    return value;
  } else if constexpr (sizeof(T) == 2) {
    return __builtin_bswap16(value);
  } else if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(value);
  } else {
    return __builtin_bswap64(value);
  }
}

// The big-endian T at `bytes` (unaligned), and its inverse.
template <typename T>
T LoadBigEndian(const char* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof value);
  return BigEndian(value);
}
template <typename T>
void StoreBigEndian(char* bytes, T value) {
  const T big = BigEndian(value);
  std::memcpy(bytes, &big, sizeof big);
}

// Writes one header map. Counts the keys first because msgpack wants the map size
// up front; optional keys that are absent are not written at all.
class MapWriter {
 public:
  explicit MapWriter(msgpack::sbuffer& buffer) : buffer_(buffer), packer_(buffer) {}

  void Begin(uint32_t size) { packer_.pack_map(size); }
  void Str(std::string_view key, std::string_view value) {
    Key(key);
    packer_.pack_str(static_cast<uint32_t>(value.size()));
    packer_.pack_str_body(value.data(), static_cast<uint32_t>(value.size()));
  }
  void Uint(std::string_view key, uint64_t value) {
    // Key and value in one write: every numbered DATA carries `seq` (and often
    // `ack`), and the packer's byte-at-a-time path costs more than the rest of the
    // envelope.
    if (key.size() >= 32) {
      Key(key);
      char bytes[9];
      buffer_.write(bytes, PutUint(bytes, value));
      return;
    }
    char bytes[32 + 9];
    bytes[0] = static_cast<char>(0xA0 | key.size());
    std::memcpy(bytes + 1, key.data(), key.size());
    const size_t n = 1 + key.size();
    buffer_.write(bytes, n + PutUint(bytes + n, value));
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    value ? packer_.pack_true() : packer_.pack_false();
  }
  // `packed` is one msgpack value, already encoded: written as is.
  void Raw(std::string_view key, std::string_view packed) {
    Key(key);
    buffer_.write(packed.data(), packed.size());
  }

  // Entries already encoded, written as they are.
  void Bytes(const char* bytes, size_t size) { buffer_.write(bytes, size); }

  // `value` in msgpack's shortest unsigned form at `out`; returns its length. One
  // store per width, big-endian as msgpack wants: every numbered message has one.
  static size_t PutUint(char* out, uint64_t value) {
    if (value < 0x80) {
      out[0] = static_cast<char>(value);
      return 1;
    }
    if (value <= 0xFF) {
      out[0] = static_cast<char>(0xCC);
      out[1] = static_cast<char>(value);
      return 2;
    }
    if (value <= 0xFFFF) {
      out[0] = static_cast<char>(0xCD);
      StoreBigEndian(out + 1, static_cast<uint16_t>(value));
      return 3;
    }
    if (value <= 0xFFFFFFFF) {
      out[0] = static_cast<char>(0xCE);
      StoreBigEndian(out + 1, static_cast<uint32_t>(value));
      return 5;
    }
    out[0] = static_cast<char>(0xCF);
    StoreBigEndian(out + 1, value);
    return 9;
  }
  // The length PutUint gives `value`.
  static size_t UintSize(uint64_t value) {
    if (value < 0x80) return 1;
    if (value <= 0xFF) return 2;
    if (value <= 0xFFFF) return 3;
    return value <= 0xFFFFFFFF ? 5 : 9;
  }

 private:
  void Key(std::string_view key) {
    if (key.size() < 32) {  // a fixstr, as every key of PMP/1 is: one write
      char bytes[32];
      bytes[0] = static_cast<char>(0xA0 | key.size());
      std::memcpy(bytes + 1, key.data(), key.size());
      buffer_.write(bytes, key.size() + 1);
      return;
    }
    packer_.pack_str(static_cast<uint32_t>(key.size()));
    packer_.pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
  }

  msgpack::sbuffer& buffer_;
  msgpack::packer<msgpack::sbuffer> packer_;
};

uint32_t Present(std::string_view s) { return s.empty() ? 0 : 1; }
template <typename T>
uint32_t Present(const std::optional<T>& v) {
  return v.has_value() ? 1 : 0;
}
// For integer keys whose 0 means absent.
uint32_t Present(uint64_t v) { return v != 0 ? 1 : 0; }

// `seq` and `ack` of DATA, REQUEST and REPLY, the map's last entries: plain
// integers, so the hot path gains two branches and no allocation.
uint32_t SequenceKeys(uint64_t seq, uint64_t ack) { return Present(seq) + Present(ack); }
// The `seq` and `ack` entries (those not 0) at `out`, the keys as constant bytes;
// returns their length, SequenceSize(seq, ack).
size_t PutSequence(char* out, uint64_t seq, uint64_t ack) {
  size_t n = 0;
  if (seq != 0) {
    std::memcpy(out, "\xA3seq", 4);
    n = 4 + MapWriter::PutUint(out + 4, seq);
  }
  if (ack != 0) {
    std::memcpy(out + n,
                "\xA3"
                "ack",
                4);
    n += 4 + MapWriter::PutUint(out + n + 4, ack);
  }
  return n;
}
size_t SequenceSize(uint64_t seq, uint64_t ack) {
  return (seq != 0 ? 4 + MapWriter::UintSize(seq) : 0) +
         (ack != 0 ? 4 + MapWriter::UintSize(ack) : 0);
}
void WriteSequence(MapWriter& w, uint64_t seq, uint64_t ack) {
  // Both entries in one write: this runs for every REQUEST and REPLY of a
  // resumable session (DATA is written in place, EncodeDataEnvelope).
  char bytes[2 * (4 + 9)];
  if (const size_t n = PutSequence(bytes, seq, ack); n > 0) w.Bytes(bytes, n);
}

void Write(MapWriter& w, const Hello& h) {
  w.Begin(4 + Present(h.name) + Present(h.software) + Present(h.service) + (h.multi ? 1 : 0) +
          (h.resume ? 1 : 0) + (h.resume_grace_ms > 0 ? 1 : 0));
  w.Uint("connect_id", h.connect_id);
  w.Str("role", h.role);
  if (!h.name.empty()) w.Str("name", h.name);
  w.Str("version", h.version);
  if (!h.software.empty()) w.Str("software", h.software);
  w.Uint("heartbeat_ms", h.heartbeat_ms);
  if (!h.service.empty()) w.Str("service", h.service);
  if (h.multi) w.Bool("multi", true);
  if (h.resume) w.Bool("resume", true);
  if (h.resume_grace_ms > 0) w.Uint("resume_grace_ms", h.resume_grace_ms);
}

void Write(MapWriter& w, const Welcome& m) {
  const bool resumable = !m.resume_token.empty();
  w.Begin(5 + Present(m.role) + Present(m.name) + Present(m.software) + Present(m.expires_in_ms) +
          (resumable ? 2 : 0));
  w.Str("session", m.session);
  if (!m.role.empty()) w.Str("role", m.role);
  if (!m.name.empty()) w.Str("name", m.name);
  w.Str("version", m.version);
  if (!m.software.empty()) w.Str("software", m.software);
  w.Uint("heartbeat_ms", m.heartbeat_ms);
  w.Uint("liveness", m.liveness);
  w.Bool("multi", m.multi);
  if (m.expires_in_ms) w.Uint("expires_in_ms", *m.expires_in_ms);
  if (resumable) {
    w.Str("resume_token", m.resume_token);
    w.Uint("resume_grace_ms", m.resume_grace_ms);
  }
}

void Write(MapWriter& w, const Deny& m) {
  w.Begin(1 + Present(m.reason));
  w.Uint("code", m.code);
  if (!m.reason.empty()) w.Str("reason", m.reason);
}

void Write(MapWriter& w, const Ping& m) {
  w.Begin(1 + Present(m.echo) + Present(m.held) + Present(m.ack) + Present(m.sent) +
          (m.resend ? 1 : 0) + Present(m.peer));
  w.Uint("t", m.t);
  if (m.echo) w.Uint("echo", *m.echo);
  if (m.held) w.Uint("held", *m.held);
  if (m.ack) w.Uint("ack", *m.ack);
  if (m.sent) w.Uint("sent", *m.sent);
  if (m.resend) w.Bool("resend", true);
  if (!m.peer.empty()) w.Str("peer", m.peer);
}

void Write(MapWriter& w, const Bye& m) {
  w.Begin(Present(m.reason) + Present(m.peer));
  if (!m.reason.empty()) w.Str("reason", m.reason);
  if (!m.peer.empty()) w.Str("peer", m.peer);
}

void Write(MapWriter& w, const Data& m) {
  w.Begin(Present(m.channel) + Present(m.peer) + SequenceKeys(m.seq, m.ack));
  if (!m.channel.empty()) w.Str("channel", m.channel);
  if (!m.peer.empty()) w.Str("peer", m.peer);
  WriteSequence(w, m.seq, m.ack);
}

void Write(MapWriter& w, const Request& m) {
  w.Begin(2 + Present(m.args) + Present(m.peer) + SequenceKeys(m.seq, m.ack));
  w.Uint("id", m.id);
  w.Str("method", m.method);
  if (!m.args.empty()) w.Raw("args", m.args);
  if (!m.peer.empty()) w.Str("peer", m.peer);
  WriteSequence(w, m.seq, m.ack);
}

void Write(MapWriter& w, const Reply& m) {
  w.Begin(2 + Present(m.error) + Present(m.result) + Present(m.peer) + SequenceKeys(m.seq, m.ack));
  w.Uint("id", m.id);
  w.Uint("code", m.code);
  if (!m.error.empty()) w.Str("error", m.error);
  if (!m.result.empty()) w.Raw("result", m.result);
  if (!m.peer.empty()) w.Str("peer", m.peer);
  WriteSequence(w, m.seq, m.ack);
}

void Write(MapWriter& w, const Error& m) {
  w.Begin(1 + Present(m.reason));
  w.Uint("code", m.code);
  if (!m.reason.empty()) w.Str("reason", m.reason);
}

void Write(MapWriter& w, const Joined& m) {
  w.Begin(1 + Present(m.name) + Present(m.role) + Present(m.resume_token) + (m.resume ? 2 : 0));
  w.Str("session", m.session);
  if (!m.name.empty()) w.Str("name", m.name);
  if (!m.role.empty()) w.Str("role", m.role);
  if (!m.resume_token.empty()) w.Str("resume_token", m.resume_token);
  if (m.resume) {
    w.Bool("resume", true);
    w.Uint("received", m.received);
  }
}

void Write(MapWriter& w, const Left& m) {
  w.Begin(1 + Present(m.reason));
  w.Str("session", m.session);
  if (!m.reason.empty()) w.Str("reason", m.reason);
}

void Write(MapWriter& w, const Resume& m) {
  w.Begin(3 + Present(m.service));
  w.Str("session", m.session);
  w.Str("token", m.token);
  w.Uint("received", m.received);
  if (!m.service.empty()) w.Str("service", m.service);
}

void Write(MapWriter& w, const Resumed& m) {
  w.Begin(2);
  w.Str("session", m.session);
  w.Uint("received", m.received);
}

// ---- decoding -------------------------------------------------------------

// Reads typed keys out of one decoded header map. Maps are a handful of entries,
// so a linear scan per key beats building an index. Unknown keys are never looked
// at, which is what makes the protocol forward compatible.
class MapReader {
 public:
  explicit MapReader(const msgpack::object_map& map) : map_(map) {}

  Status Str(std::string_view key, std::string& out, bool required) const {
    const msgpack::object* v = Find(key);
    if (v == nullptr) return Absent(key, required);
    if (v->type != msgpack::type::STR) return WrongType(key, "a string");
    out.assign(v->via.str.ptr, v->via.str.size);
    return Status();
  }
  Status Uint(std::string_view key, uint64_t& out, bool required) const {
    const msgpack::object* v = Find(key);
    if (v == nullptr) return Absent(key, required);
    if (v->type != msgpack::type::POSITIVE_INTEGER) {
      return WrongType(key, "an unsigned integer");
    }
    out = v->via.u64;
    return Status();
  }
  Status Uint(std::string_view key, std::optional<uint64_t>& out) const {
    uint64_t value = 0;
    if (Find(key) == nullptr) return Status();
    Status s = Uint(key, value, true);
    if (s.ok()) out = value;
    return s;
  }
  Status Code(std::string_view key, uint32_t& out, bool required) const {
    uint64_t value = 0;
    Status s = Uint(key, value, required);
    if (!s.ok()) return s;
    if (value > std::numeric_limits<uint32_t>::max()) {
      return WrongType(key, "an unsigned integer below 2^32");
    }
    out = static_cast<uint32_t>(value);
    return Status();
  }
  Status Bool(std::string_view key, bool& out) const {
    const msgpack::object* v = Find(key);
    if (v == nullptr) return Status();
    if (v->type != msgpack::type::BOOLEAN) return WrongType(key, "a boolean");
    out = v->via.boolean;
    return Status();
  }
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // Any value (or, with map_only, a map), re-encoded so it outlives the zone.
  Status Packed(std::string_view key, std::string& out, bool map_only) const {
    const msgpack::object* v = Find(key);
    if (v == nullptr) return Status();
    if (map_only && v->type != msgpack::type::MAP) return WrongType(key, "a map");
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, *v);
    out.assign(buffer.data(), buffer.size());
    return Status();
  }

 private:
  const msgpack::object* Find(std::string_view key) const {
    for (uint32_t i = 0; i < map_.size; ++i) {
      const msgpack::object& k = map_.ptr[i].key;
      if (std::string_view(k.via.str.ptr, k.via.str.size) == key) {
        return &map_.ptr[i].val;
      }
    }
    return nullptr;
  }
  static Status Absent(std::string_view key, bool required) {
    if (!required) return Status();
    return Malformed("required header key '" + std::string(key) + "' is missing");
  }
  static Status WrongType(std::string_view key, std::string_view expected) {
    return Malformed("header key '" + std::string(key) + "' must be " + std::string(expected));
  }

  const msgpack::object_map& map_;
};

// Runs the reads in order and keeps the first failure.
class FirstError {
 public:
  FirstError& operator<<(Status s) {
    if (status_.ok() && !s.ok()) status_ = std::move(s);
    return *this;
  }
  Status Take() { return std::move(status_); }

 private:
  Status status_;
};

Status Read(const MapReader& r, Hello& h) {
  FirstError e;
  e << r.Uint("connect_id", h.connect_id, false) << r.Str("role", h.role, true)
    << r.Str("name", h.name, false) << r.Str("version", h.version, true)
    << r.Str("software", h.software, false) << r.Uint("heartbeat_ms", h.heartbeat_ms, false)
    << r.Str("service", h.service, false) << r.Bool("multi", h.multi) << r.Bool("resume", h.resume)
    << r.Uint("resume_grace_ms", h.resume_grace_ms, false);
  return e.Take();
}

Status Read(const MapReader& r, Welcome& m) {
  FirstError e;
  e << r.Str("session", m.session, true) << r.Str("role", m.role, false)
    << r.Str("name", m.name, false) << r.Str("version", m.version, true)
    << r.Str("software", m.software, false) << r.Uint("heartbeat_ms", m.heartbeat_ms, true)
    << r.Uint("liveness", m.liveness, true) << r.Bool("multi", m.multi)
    << r.Uint("expires_in_ms", m.expires_in_ms);
  // The resume keys come together or not at all: half of them offers a resume the
  // connector could not carry out.
  if (r.Has("resume_token") || r.Has("resume_grace_ms")) {
    e << r.Str("resume_token", m.resume_token, true)
      << r.Uint("resume_grace_ms", m.resume_grace_ms, true);
    Status s = e.Take();
    if (!s.ok()) return s;
    // An empty token would be written as no token at all.
    if (m.resume_token.empty()) return Malformed("header key 'resume_token' must not be empty");
    if (m.resume_grace_ms == 0) return Malformed("header key 'resume_grace_ms' must be at least 1");
    return Status();
  }
  return e.Take();
}

Status Read(const MapReader& r, Deny& m) {
  FirstError e;
  e << r.Code("code", m.code, true) << r.Str("reason", m.reason, false);
  return e.Take();
}

Status Read(const MapReader& r, Ping& m) {
  FirstError e;
  e << r.Uint("t", m.t, true) << r.Uint("echo", m.echo) << r.Uint("held", m.held)
    << r.Uint("ack", m.ack) << r.Uint("sent", m.sent) << r.Bool("resend", m.resend)
    << r.Str("peer", m.peer, false);
  return e.Take();
}

Status Read(const MapReader& r, Bye& m) {
  FirstError e;
  e << r.Str("reason", m.reason, false) << r.Str("peer", m.peer, false);
  return e.Take();
}

Status Read(const MapReader& r, Data& m) {
  FirstError e;
  e << r.Str("channel", m.channel, false) << r.Str("peer", m.peer, false)
    << r.Uint("seq", m.seq, false) << r.Uint("ack", m.ack, false);
  return e.Take();
}

Status Read(const MapReader& r, Request& m) {
  FirstError e;
  e << r.Uint("id", m.id, true) << r.Str("method", m.method, true)
    << r.Packed("args", m.args, /*map_only=*/true) << r.Str("peer", m.peer, false)
    << r.Uint("seq", m.seq, false) << r.Uint("ack", m.ack, false);
  return e.Take();
}

Status Read(const MapReader& r, Reply& m) {
  FirstError e;
  e << r.Uint("id", m.id, true) << r.Code("code", m.code, true) << r.Str("error", m.error, false)
    << r.Packed("result", m.result, false) << r.Str("peer", m.peer, false)
    << r.Uint("seq", m.seq, false) << r.Uint("ack", m.ack, false);
  return e.Take();
}

Status Read(const MapReader& r, Error& m) {
  FirstError e;
  e << r.Code("code", m.code, true) << r.Str("reason", m.reason, false);
  return e.Take();
}

Status Read(const MapReader& r, Joined& m) {
  FirstError e;
  e << r.Str("session", m.session, true) << r.Str("name", m.name, false)
    << r.Str("role", m.role, false) << r.Str("resume_token", m.resume_token, false)
    << r.Bool("resume", m.resume);
  if (m.resume) e << r.Uint("received", m.received, true);
  return e.Take();
}

Status Read(const MapReader& r, Left& m) {
  FirstError e;
  e << r.Str("session", m.session, true) << r.Str("reason", m.reason, false);
  return e.Take();
}

Status Read(const MapReader& r, Resume& m) {
  FirstError e;
  e << r.Str("session", m.session, true) << r.Str("token", m.token, true)
    << r.Uint("received", m.received, true) << r.Str("service", m.service, false);
  return e.Take();
}

Status Read(const MapReader& r, Resumed& m) {
  FirstError e;
  e << r.Str("session", m.session, true) << r.Uint("received", m.received, true);
  return e.Take();
}

// A Header holding the default-constructed struct for `command`.
// Makes *header the empty header of `command`, in place (no variant is moved on
// the receive path); false for an unknown command.
bool SetEmptyHeader(uint8_t command, Header* header) {
  switch (static_cast<Command>(command)) {
    case Command::kHello:
      header->emplace<Hello>();
      return true;
    case Command::kWelcome:
      header->emplace<Welcome>();
      return true;
    case Command::kDeny:
      header->emplace<Deny>();
      return true;
    case Command::kPing:
      header->emplace<Ping>();
      return true;
    case Command::kBye:
      header->emplace<Bye>();
      return true;
    case Command::kData:
      header->emplace<Data>();
      return true;
    case Command::kRequest:
      header->emplace<Request>();
      return true;
    case Command::kReply:
      header->emplace<Reply>();
      return true;
    case Command::kError:
      header->emplace<Error>();
      return true;
    case Command::kJoined:
      header->emplace<Joined>();
      return true;
    case Command::kLeft:
      header->emplace<Left>();
      return true;
    case Command::kResume:
      header->emplace<Resume>();
      return true;
    case Command::kResumed:
      header->emplace<Resumed>();
      return true;
  }
  return false;
}

// Strings and binaries are read in place: MapReader copies what it keeps before
// the frame can go away.
bool ReferenceInPlace(msgpack::type::object_type, std::size_t, void*) { return true; }

// The unpacker allocates a container's elements as soon as it reads its size, before
// it sees them, and the per-container limits below cap each container, not their sum:
// a header of n bytes that opens 32 nested containers each declaring n elements has it
// reserve 32 × n × 32 bytes (≈ 2 GB for a 1 MiB envelope) before it finds the header
// truncated. Every element takes at least one byte, so an honest header declares at
// most n elements in all its containers together; this walk, which allocates nothing
// per element, checks that first. It stops at kMaxHeaderDepth + 1 levels, where the
// unpacker stops too.
class DeclaredElements : public msgpack::null_visitor {
 public:
  explicit DeclaredElements(size_t budget) : budget_(budget) {}
  bool start_array(uint32_t n) { return Open(n); }
  bool start_map(uint32_t n) { return Open(uint64_t{2} * n); }
  bool end_array() { return Close(); }
  bool end_map() { return Close(); }
  bool over_budget() const { return over_budget_; }

 private:
  bool Open(uint64_t elements) {
    if (elements > budget_) {
      over_budget_ = true;
      return false;
    }
    budget_ -= elements;
    return ++depth_ <= kMaxHeaderDepth + 1;
  }
  bool Close() {
    --depth_;
    return true;
  }

  uint64_t budget_;
  size_t depth_ = 0;
  bool over_budget_ = false;
};

// Below this many header bytes the walk is skipped: unchecked, the worst case is
// 32 × 1 KiB × 32 bytes = 1 MiB, and real headers (~100 bytes) pay nothing.
constexpr size_t kWalkHeadersAbove = 1024;

// One buffer per thread, reused: after warm-up an envelope costs no allocation
// beyond the frame itself (and none at all for frames of 33 bytes or less).
msgpack::sbuffer& EnvelopeBuffer(Command command) {
  thread_local msgpack::sbuffer buffer(256);
  buffer.clear();
  buffer.write(kSignature.data(), kSignature.size());
  const char byte = static_cast<char>(command);
  buffer.write(&byte, 1);
  return buffer;
}

// The buffer holding the envelope of `header` (signature, command, header map).
const msgpack::sbuffer& HeaderBuffer(const Header& header) {
  msgpack::sbuffer& buffer = EnvelopeBuffer(CommandOf(header));
  MapWriter writer(buffer);
  std::visit([&writer](const auto& h) { Write(writer, h); }, header);
  return buffer;
}

// The envelope frame of `buffer` (signature, command, header map) with `payload`
// laid out under `form`: a payload that rides inline is copied in after the map and
// taken out of `payload`, which otherwise keeps the frames to send after it.
// `*bytes` (when not null) is set to the `size` bytes at `out`, an envelope frame's
// content, when they do not fit in a zmq_msg_t: then they are not in it, and
// returning the frame moves the zmq_msg_t, not them (EncodeEnvelope).
void SayWhereBytesAre(std::span<const char>* bytes, const char* out, size_t size) {
  if (bytes != nullptr && size > sizeof(zmq_msg_t)) *bytes = std::span<const char>(out, size);
}

// `*bytes` (when not null) as EncodeEnvelope says.
zmq::message_t LaidOut(const msgpack::sbuffer& buffer, Frames& payload, PayloadForm form,
                       std::span<const char>* bytes = nullptr) {
  if (!InlinesPayload(form, payload)) return zmq::message_t(buffer.data(), buffer.size());
  // Sized once and filled in place: the payload is copied once, not through the buffer.
  const zmq::message_t& inline_payload = payload[0];
  const size_t inline_size = inline_payload.size();
  const size_t size = buffer.size() + inline_size;
  zmq::message_t envelope(size);
  char* out = envelope.data<char>();
  std::memcpy(out, buffer.data(), buffer.size());
  std::memcpy(out + buffer.size(), inline_payload.data(), inline_size);
  payload.clear();
  SayWhereBytesAre(bytes, out, size);
  return envelope;
}

// A whole message: `envelope`, then what is left of `payload` (moved).
Frames Assembled(zmq::message_t envelope, Frames& payload) {
  Frames frames;
  frames.reserve(1 + payload.size());
  frames.push_back(std::move(envelope));
  for (auto& frame : payload) frames.push_back(std::move(frame));
  return frames;
}

// A walk over msgpack bytes that only finds where things end: what a relay needs to
// copy header entries as they came. msgpack::parse would do it too, but it builds a
// parser (and allocates its stack) per value, which cost more than encoding the
// header afresh; this allocates nothing. Only used on a header that has decoded.
class MsgpackWalk {
 public:
  MsgpackWalk(const char* bytes, size_t size, size_t off) : bytes_(bytes), size_(size), off_(off) {}
  size_t offset() const { return off_; }

  // A map's entry count (fixmap, map 16, map 32).
  bool MapSize(uint32_t* count) {
    uint8_t first = 0;
    if (!Byte(&first)) return false;
    if ((first & 0xF0) == 0x80) {
      *count = first & 0x0F;
      return true;
    }
    if (first != 0xDE && first != 0xDF) return false;
    return Uint(first == 0xDE ? 2 : 4, count);
  }
  // A string's bytes (fixstr, str 8, 16, 32).
  bool Str(std::string_view* text) {
    uint8_t first = 0;
    uint32_t length = 0;
    if (!Byte(&first)) return false;
    if ((first & 0xE0) == 0xA0) {
      length = first & 0x1F;
    } else if (first < 0xD9 || first > 0xDB || !Uint(size_t{1} << (first - 0xD9), &length)) {
      return false;
    }
    if (length > size_ - off_) return false;
    *text = std::string_view(bytes_ + off_, length);
    off_ += length;
    return true;
  }
  // Past one value of any type. Nested values are counted, not recursed into, so
  // no nesting can exhaust the stack; each takes a byte, so the walk ends.
  bool Skip() {
    for (uint64_t values = 1; values > 0; --values) {
      uint64_t content = 0;
      uint64_t nested = 0;
      if (!Item(&content, &nested) || content > size_ - off_) return false;
      off_ += content;
      values += nested;
    }
    return true;
  }

 private:
  // One value's type byte and length: how many bytes of content follow, and how
  // many values nest in it (a map's keys and values, an array's elements).
  bool Item(uint64_t* content, uint64_t* nested) {
    uint8_t b = 0;
    uint32_t n = 0;
    if (!Byte(&b)) return false;
    if (b <= 0x7F || b >= 0xE0 || b == 0xC0 || b == 0xC2 || b == 0xC3) {
      return true;  // positive or negative fixint, nil, false, true
    }
    if (b <= 0x8F) {
      *nested = 2 * uint64_t{b & 0x0Fu};
    } else if (b <= 0x9F) {
      *nested = b & 0x0Fu;
    } else if (b <= 0xBF) {
      *content = b & 0x1Fu;
    } else if (b >= 0xC4 && b <= 0xC6) {  // bin 8, 16, 32
      if (!Uint(size_t{1} << (b - 0xC4), &n)) return false;
      *content = n;
    } else if (b >= 0xC7 && b <= 0xC9) {  // ext 8, 16, 32: a type byte after the length
      if (!Uint(size_t{1} << (b - 0xC7), &n)) return false;
      *content = uint64_t{n} + 1;
    } else if (b >= 0xCA && b <= 0xD3) {  // float 32, 64, uint and int 8 to 64
      static constexpr uint8_t kWidth[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
      *content = kWidth[b - 0xCA];
    } else if (b >= 0xD4 && b <= 0xD8) {  // fixext 1 to 16, after a type byte
      *content = 1 + (uint64_t{1} << (b - 0xD4));
    } else if (b >= 0xD9 && b <= 0xDB) {  // str 8, 16, 32
      if (!Uint(size_t{1} << (b - 0xD9), &n)) return false;
      *content = n;
    } else if (b >= 0xDC && b <= 0xDF) {  // array 16, 32, map 16, 32
      if (!Uint(b == 0xDC || b == 0xDE ? 2 : 4, &n)) return false;
      *nested = b <= 0xDD ? n : 2 * uint64_t{n};
    } else {
      return false;  // 0xC1, never used
    }
    return true;
  }
  bool Byte(uint8_t* value) {
    if (off_ >= size_) return false;
    *value = static_cast<uint8_t>(bytes_[off_++]);
    return true;
  }
  // A big-endian unsigned integer of `width` bytes.
  bool Uint(size_t width, uint32_t* value) {
    if (width > size_ - off_) return false;
    *value = 0;
    for (size_t i = 0; i < width; ++i) {
      *value = (*value << 8) | static_cast<uint8_t>(bytes_[off_++]);
    }
    return true;
  }

  const char* bytes_;
  size_t size_;
  size_t off_;
};

}  // namespace

bool ParseProtocolVersion(std::string_view text, uint32_t& major, uint32_t& minor) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [p, ec] = std::from_chars(begin, end, major);
  if (ec != std::errc() || p == begin) return false;
  minor = 0;
  if (p == end) return true;
  if (*p != '.') return false;
  const char* minor_begin = p + 1;
  auto [q, ec2] = std::from_chars(minor_begin, end, minor);
  return ec2 == std::errc() && q == end && q != minor_begin;
}

PayloadForm PayloadFormFor(std::string_view version) {
  uint32_t major = 0, minor = 0;
  const bool decodes_inline =
      ParseProtocolVersion(version, major, minor) && major == 1 && minor >= 1;
  return decodes_inline ? PayloadForm::kInlineSmall : PayloadForm::kFrames;
}

bool InlinesPayload(PayloadForm form, const Frames& payload) {
  // An empty frame stays a frame: inline, it would read back as no payload at all.
  return form == PayloadForm::kInlineSmall && payload.size() == 1 && payload[0].size() > 0 &&
         payload[0].size() <= kMaxInlinePayload;
}

std::string_view CommandName(Command command) {
  switch (command) {
    case Command::kHello:
      return "HELLO";
    case Command::kWelcome:
      return "WELCOME";
    case Command::kDeny:
      return "DENY";
    case Command::kPing:
      return "PING";
    case Command::kBye:
      return "BYE";
    case Command::kData:
      return "DATA";
    case Command::kRequest:
      return "REQUEST";
    case Command::kReply:
      return "REPLY";
    case Command::kError:
      return "ERROR";
    case Command::kJoined:
      return "JOINED";
    case Command::kLeft:
      return "LEFT";
    case Command::kResume:
      return "RESUME";
    case Command::kResumed:
      return "RESUMED";
  }
  return "UNKNOWN";
}

bool TakesPayload(Command command) {
  return command == Command::kData || command == Command::kRequest || command == Command::kReply;
}

zmq::message_t EncodeEnvelope(const Header& header) {
  const msgpack::sbuffer& buffer = HeaderBuffer(header);
  return zmq::message_t(buffer.data(), buffer.size());
}

zmq::message_t EncodeEnvelope(const Header& header, Frames& payload, PayloadForm form,
                              std::span<const char>* bytes) {
  if (bytes != nullptr) *bytes = {};
  return LaidOut(HeaderBuffer(header), payload, form, bytes);
}

namespace {

// A str header for `length` bytes as msgpack's packer writes it (fixstr, str 8, 16,
// 32) at `out`; returns its length.
size_t PutStrHeader(char* out, size_t length) {
  if (length < 32) {
    out[0] = static_cast<char>(0xA0 | length);
    return 1;
  }
  if (length < 256) {
    out[0] = static_cast<char>(0xD9);
    out[1] = static_cast<char>(length);
    return 2;
  }
  if (length < 65536) {
    out[0] = static_cast<char>(0xDA);
    StoreBigEndian(out + 1, static_cast<uint16_t>(length));
    return 3;
  }
  out[0] = static_cast<char>(0xDB);
  StoreBigEndian(out + 1, static_cast<uint32_t>(length));
  return 5;
}

size_t StrHeaderSize(size_t length) {
  if (length < 32) return 1;
  if (length < 256) return 2;
  return length < 65536 ? 3 : 5;
}

}  // namespace

zmq::message_t EncodeDataEnvelope(const Data& data, Frames& payload, PayloadForm form,
                                  std::span<const char>* bytes) {
  if (bytes != nullptr) *bytes = {};
  // The entries in Write(MapWriter&, const Data&)'s order: channel, peer, seq, ack.
  constexpr std::string_view kChannelKey =
      "\xA7"
      "channel";
  constexpr std::string_view kPeerKey =
      "\xA4"
      "peer";
  auto str_size = [](std::string_view value) {
    return value.empty() ? 0 : StrHeaderSize(value.size()) + value.size();
  };
  const size_t header_size = kSignature.size() + 2 +
                             (data.channel.empty() ? 0 : kChannelKey.size()) +
                             str_size(data.channel) + (data.peer.empty() ? 0 : kPeerKey.size()) +
                             str_size(data.peer) + SequenceSize(data.seq, data.ack);
  const bool inlines = InlinesPayload(form, payload);
  const size_t inline_size = inlines ? payload[0].size() : 0;
  const size_t size = header_size + inline_size;
  zmq::message_t envelope(size);
  char* const out = envelope.data<char>();
  char* at = out;
  auto put = [&at](std::string_view text) {
    std::memcpy(at, text.data(), text.size());
    at += text.size();
  };
  auto put_str = [&](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    put(key);
    at += PutStrHeader(at, value.size());
    put(value);
  };
  put(kSignature);
  *at++ = static_cast<char>(Command::kData);
  *at++ = static_cast<char>(
      0x80 | (Present(data.channel) + Present(data.peer) + SequenceKeys(data.seq, data.ack)));
  put_str(kChannelKey, data.channel);
  put_str(kPeerKey, data.peer);
  at += PutSequence(at, data.seq, data.ack);
  if (inlines) {
    std::memcpy(at, payload[0].data(), inline_size);
    payload.clear();
  }
  SayWhereBytesAre(bytes, out, size);
  return envelope;
}

std::optional<Frames> EncodeRelayed(const zmq::message_t& envelope, std::string_view peer,
                                    Frames& payload, PayloadForm form) {
  const char* bytes = envelope.data<char>();
  const size_t size = envelope.size();
  if (size < kMinEnvelopeSize || !TakesPayload(static_cast<Command>(bytes[4]))) {
    return std::nullopt;
  }
  MsgpackWalk walk(bytes, size, 5);
  uint32_t count = 0;
  if (!walk.MapSize(&count)) return std::nullopt;
  // The entries that stay, as runs of bytes.
  thread_local std::vector<std::pair<size_t, size_t>> kept;
  kept.clear();
  uint32_t kept_count = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t begin = walk.offset();
    std::string_view key;
    if (!walk.Str(&key) || !walk.Skip()) return std::nullopt;
    if (key == "peer") continue;
    ++kept_count;
    if (!kept.empty() && kept.back().second == begin) {
      kept.back().second = walk.offset();
    } else {
      kept.emplace_back(begin, walk.offset());
    }
  }
  msgpack::sbuffer& buffer = EnvelopeBuffer(static_cast<Command>(bytes[4]));
  MapWriter writer(buffer);
  writer.Begin(kept_count + Present(peer));
  for (const auto& [begin, end] : kept) buffer.write(bytes + begin, end - begin);
  if (!peer.empty()) writer.Str("peer", peer);
  return Assembled(LaidOut(buffer, payload, form), payload);
}

Frames Encode(const Header& header, Frames payload, PayloadForm form) {
  if (!payload.empty() && !TakesPayload(CommandOf(header))) {
    throw std::invalid_argument(std::string(CommandName(CommandOf(header))) +
                                " takes no payload frames");
  }
  return Assembled(EncodeEnvelope(header, payload, form), payload);
}

struct Decoder::Zone {
  msgpack::zone zone;
};

namespace {

// A msgpack unsigned integer at bytes[*pos] (positive fixint, uint 8/16/32/64): its
// value, and *pos moved past it; false for anything else.
bool ReadUintAt(const char* bytes, size_t size, size_t* pos, uint64_t* value) {
  if (*pos >= size) return false;
  const auto tag = static_cast<uint8_t>(bytes[*pos]);
  size_t width = 0;
  if (tag < 0x80) {
    *value = tag;
    *pos += 1;
    return true;
  }
  switch (tag) {
    case 0xCC:
      width = 1;
      break;
    case 0xCD:
      width = 2;
      break;
    case 0xCE:
      width = 4;
      break;
    case 0xCF:
      width = 8;
      break;
    default:
      return false;
  }
  if (*pos + 1 + width > size) return false;
  // One load per width, not a byte at a time: every numbered DATA has a `seq`.
  const char* at = bytes + *pos + 1;
  switch (width) {
    case 1:
      *value = static_cast<uint8_t>(*at);
      break;
    case 2:
      *value = LoadBigEndian<uint16_t>(at);
      break;
    case 4:
      *value = LoadBigEndian<uint32_t>(at);
      break;
    default:
      *value = LoadBigEndian<uint64_t>(at);
  }
  *pos += 1 + width;
  return true;
}

// A header map of one or two entries, each `seq` or `ack` with an unsigned value,
// read into `data`; *end: where the map ends. False (and `data` untouched) for
// any other header: the general path reads it, and reports what is wrong.
bool ReadSequenceOnly(const char* bytes, size_t size, Data& data, size_t* end) {
  const auto first = static_cast<uint8_t>(bytes[5]);
  const size_t entries = first & 0x0F;
  if ((first & 0xF0) != 0x80 || entries == 0 || entries > 2) return false;
  size_t pos = 6;
  uint64_t seq = 0, ack = 0;
  bool have_seq = false, have_ack = false;
  for (size_t i = 0; i < entries; ++i) {
    if (pos + 4 > size || static_cast<uint8_t>(bytes[pos]) != 0xA3) return false;
    const std::string_view key(bytes + pos + 1, 3);
    pos += 4;
    uint64_t value = 0;
    if (!ReadUintAt(bytes, size, &pos, &value)) return false;
    // A repeated key: the first occurrence counts (PROTOCOL §5.3 rule 4).
    if (key == "seq") {
      if (!have_seq) seq = value;
      have_seq = true;
    } else if (key == "ack") {
      if (!have_ack) ack = value;
      have_ack = true;
    } else {
      return false;
    }
  }
  data.seq = seq;
  data.ack = ack;
  *end = pos;
  return true;
}

// A msgpack string at bytes[*pos] (fixstr, str 8/16/32): its bytes, and *pos moved
// past it; false for anything else or when it runs past `size`.
bool ReadStrAt(const char* bytes, size_t size, size_t* pos, std::string_view* out) {
  if (*pos >= size) return false;
  const auto tag = static_cast<uint8_t>(bytes[*pos]);
  size_t length = 0;
  size_t width = 0;
  if ((tag & 0xE0) == 0xA0) {
    length = tag & 0x1F;
  } else if (tag == 0xD9) {
    width = 1;
  } else if (tag == 0xDA) {
    width = 2;
  } else if (tag == 0xDB) {
    width = 4;
  } else {
    return false;
  }
  if (*pos + 1 + width > size) return false;
  for (size_t i = 0; i < width; ++i) {
    length = (length << 8) | static_cast<uint8_t>(bytes[*pos + 1 + i]);
  }
  const size_t start = *pos + 1 + width;
  if (length > size - start) return false;
  *out = std::string_view(bytes + start, length);
  *pos = start + length;
  return true;
}

// One entry of a flat header map: a string key and an unsigned integer or a string.
struct FlatEntry {
  bool is_uint;
  uint64_t uint;
  std::string_view str;
};

// The entries a REQUEST or a REPLY reads, of a header map of at most 15 entries (a
// fixmap) whose keys are strings and whose values are unsigned integers or strings:
// a REQUEST without `args`, a REPLY without `result`, as nearly every round trip
// sends them. Read in one pass without msgpack's unpacker, which builds every
// object in a zone and took 2,500 of the 12,000 instructions a calling thread spent
// per round trip (callgrind). Read() is false for any other map: the general path
// reads it and reports what is wrong.
class FlatMap {
 public:
  bool Read(const char* bytes, size_t size) {
    const auto first = static_cast<uint8_t>(bytes[5]);
    if ((first & 0xF0) != 0x80) return false;
    const size_t count = first & 0x0F;
    size_t pos = 6;
    for (size_t i = 0; i < count; ++i) {
      std::string_view key;
      FlatEntry& e = entries_[i];
      if (!ReadStrAt(bytes, size, &pos, &key)) return false;
      e.is_uint = ReadUintAt(bytes, size, &pos, &e.uint);
      if (!e.is_uint && !ReadStrAt(bytes, size, &pos, &e.str)) return false;
      if (const FlatEntry** slot = Slot(key); slot != nullptr && *slot == nullptr) *slot = &e;
    }
    end_ = pos;
    return true;
  }
  size_t end() const { return end_; }

  // The first entry under each key (PROTOCOL §5.3 rule 4), or nullptr.
  const FlatEntry* id = nullptr;
  const FlatEntry* method = nullptr;
  const FlatEntry* code = nullptr;
  const FlatEntry* error = nullptr;
  const FlatEntry* peer = nullptr;
  const FlatEntry* seq = nullptr;
  const FlatEntry* ack = nullptr;
  const FlatEntry* args = nullptr;
  const FlatEntry* result = nullptr;

 private:
  const FlatEntry** Slot(std::string_view key) {
    switch (key.size()) {
      case 2:
        return key == "id" ? &id : nullptr;
      case 3:
        return key == "seq" ? &seq : key == "ack" ? &ack : nullptr;
      case 4:
        return key == "code" ? &code : key == "peer" ? &peer : key == "args" ? &args : nullptr;
      case 5:
        return key == "error" ? &error : nullptr;
      case 6:
        return key == "method" ? &method : key == "result" ? &result : nullptr;
      default:
        return nullptr;
    }
  }

  std::array<FlatEntry, 15> entries_;
  size_t end_ = 0;
};

bool IsUint(const FlatEntry* e) { return e == nullptr || e->is_uint; }
bool IsStr(const FlatEntry* e) { return e == nullptr || !e->is_uint; }

// `m` is the empty header SetEmptyHeader made: only keys present are written, and
// only once every key has the right type.
bool ReadFlat(const FlatMap& map, Request& m) {
  if (map.id == nullptr || !map.id->is_uint || map.method == nullptr || map.method->is_uint ||
      map.args != nullptr || !IsStr(map.peer) || !IsUint(map.seq) || !IsUint(map.ack)) {
    return false;
  }
  m.id = map.id->uint;
  m.method.assign(map.method->str);
  if (map.peer != nullptr) m.peer.assign(map.peer->str);
  if (map.seq != nullptr) m.seq = map.seq->uint;
  if (map.ack != nullptr) m.ack = map.ack->uint;
  return true;
}

bool ReadFlat(const FlatMap& map, Reply& m) {
  if (map.id == nullptr || !map.id->is_uint || map.code == nullptr || !map.code->is_uint ||
      map.code->uint > std::numeric_limits<uint32_t>::max() || map.result != nullptr ||
      !IsStr(map.error) || !IsStr(map.peer) || !IsUint(map.seq) || !IsUint(map.ack)) {
    return false;
  }
  m.id = map.id->uint;
  m.code = static_cast<uint32_t>(map.code->uint);
  if (map.error != nullptr) m.error.assign(map.error->str);
  if (map.peer != nullptr) m.peer.assign(map.peer->str);
  if (map.seq != nullptr) m.seq = map.seq->uint;
  if (map.ack != nullptr) m.ack = map.ack->uint;
  return true;
}

// A REQUEST or REPLY header of a flat map, read into `header` (already of its
// command's type); *end: where the map ends. False, `header` untouched, otherwise.
template <typename T>
bool ReadFlatHeader(const char* bytes, size_t size, Header* header, size_t* end) {
  FlatMap map;
  if (!map.Read(bytes, size) || !ReadFlat(map, std::get<T>(*header))) return false;
  *end = map.end();
  return true;
}

}  // namespace

Decoder::Decoder() : zone_(std::make_unique<Zone>()) {}
Decoder::~Decoder() = default;

Result<Header> Decoder::DecodeEnvelope(const zmq::message_t& envelope) {
  Header header;
  if (Status s = DecodeEnvelopeInto(envelope, &header); !s.ok()) return s;
  return header;
}

Status Decoder::DecodeEnvelopeInto(const zmq::message_t& envelope, Header* header,
                                   size_t* header_end) {
  const size_t size = envelope.size();
  const char* bytes = envelope.data<char>();
  if (size < kMinEnvelopeSize) {
    return Malformed("envelope is " + std::to_string(size) +
                     " bytes; a PMP/1 envelope has at least 6");
  }
  if (std::memcmp(bytes, kSignature.data(), kSignature.size()) != 0) {
    return Malformed("envelope does not start with the signature 'PMP1'");
  }
  const auto command = static_cast<uint8_t>(bytes[4]);
  if (!SetEmptyHeader(command, header)) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", command);
    return Malformed(std::string("unknown command ") + hex);
  }

  // Every msgpack element takes at least one byte, so no honest header declares
  // more elements than it has bytes: the limits stop a 5-byte header from asking
  // the unpacker for a 4-billion-entry map.
  const size_t body = size - 5;
  if (body > kWalkHeadersAbove) {
    DeclaredElements walk(body);
    size_t walk_offset = 5;
    try {
      (void)msgpack::parse(bytes, size, walk_offset, walk);
    } catch (const std::exception&) {
      // Reported by the unpacker below.
    }
    if (walk.over_budget()) {
      return Malformed("header declares more elements than its " + std::to_string(body) +
                       " bytes can hold");
    }
  }
  // Bytes after the map are an inline payload where one may be (DATA, REQUEST,
  // REPLY, when the caller takes it) and malformed everywhere else.
  auto check_end = [&](size_t end) -> Status {
    if (header_end != nullptr && TakesPayload(static_cast<Command>(command))) {
      *header_end = end;
      return Status();
    }
    if (end != size) return Malformed(std::to_string(size - end) + " bytes follow the header map");
    return Status();
  };
  if (static_cast<Command>(command) == Command::kData) {
    // A DATA on the default channel of a resumable session: `seq` and `ack` only.
    // As common as the empty map below, and as cheap to read without the unpacker.
    size_t end = 0;
    if (ReadSequenceOnly(bytes, size, std::get<Data>(*header), &end)) return check_end(end);
  }
  if (static_cast<Command>(command) == Command::kRequest ||
      static_cast<Command>(command) == Command::kReply) {
    size_t end = 0;
    const bool read = static_cast<Command>(command) == Command::kRequest
                          ? ReadFlatHeader<Request>(bytes, size, header, &end)
                          : ReadFlatHeader<Reply>(bytes, size, header, &end);
    if (read) return check_end(end);
  }
  if (static_cast<uint8_t>(bytes[5]) == 0x80) {
    // An empty map (a DATA on the default channel, a plain BYE): the most common
    // envelope of a data stream, read without the unpacker. DATA and BYE have no
    // required key, so their empty header is already complete; for the others the
    // same readers report what is missing.
    if (Status s = check_end(kMinEnvelopeSize); !s.ok()) return s;
    if (static_cast<Command>(command) == Command::kData ||
        static_cast<Command>(command) == Command::kBye) {
      return Status();
    }
    const msgpack::object_map empty{0, nullptr};
    MapReader reader(empty);
    return std::visit([&reader](auto& h) { return Read(reader, h); }, *header);
  }
  const msgpack::unpack_limit limits(body, body, body, body, body, kMaxHeaderDepth);
  zone_->zone.clear();
  size_t offset = 5;
  msgpack::object object;
  try {
    object = msgpack::unpack(zone_->zone, bytes, size, offset, ReferenceInPlace, nullptr, limits);
  } catch (const msgpack::insufficient_bytes&) {
    return Malformed("header is truncated msgpack");
  } catch (const std::exception& e) {
    return Malformed(std::string("header is not valid msgpack: ") + e.what());
  }
  if (object.type != msgpack::type::MAP) {
    return Malformed("header is not a msgpack map");
  }
  if (Status s = check_end(offset); !s.ok()) return s;
  const msgpack::object_map& map = object.via.map;
  for (uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.type != msgpack::type::STR) {
      return Malformed("header map has a key that is not a string");
    }
  }
  MapReader reader(map);
  return std::visit([&reader](auto& h) { return Read(reader, h); }, *header);
}

Result<Message> Decoder::Decode(Frames& frames, size_t first) {
  Message message;
  if (Status s = DecodeInto(frames, first, &message); !s.ok()) return s;
  return message;
}

Status Decoder::DecodeInto(Frames& frames, size_t first, Message* message) {
  message->payload.clear();
  if (frames.size() <= first) return Malformed("message has no envelope frame");
  const zmq::message_t& envelope = frames[first];
  size_t header_end = envelope.size();
  if (Status s = DecodeEnvelopeInto(envelope, &message->header, &header_end); !s.ok()) return s;
  const size_t payload_count = frames.size() - first - 1;
  if (payload_count > 0 && !TakesPayload(message->command())) {
    return Malformed(std::string(CommandName(message->command())) +
                     " takes no payload frames, got " + std::to_string(payload_count));
  }
  const bool has_inline = header_end < envelope.size();
  message->payload.reserve(payload_count + (has_inline ? 1 : 0));
  if (has_inline) {
    message->payload.emplace_back(envelope.data<char>() + header_end, envelope.size() - header_end);
  }
  for (size_t i = first + 1; i < frames.size(); ++i) {
    message->payload.push_back(std::move(frames[i]));
  }
  return Status();
}

Frames ErrorFrames(uint32_t code, std::string reason) {
  return Encode(Error{code, std::move(reason)});
}

Frames TooLargeFrames(uint64_t bytes, uint64_t limit) {
  return ErrorFrames(kCodeTooLarge, "message of " + std::to_string(bytes) +
                                        " bytes exceeds max_message_size (" +
                                        std::to_string(limit) + ")");
}

}  // namespace procmod::pmp
