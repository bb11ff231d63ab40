// procmod_attacker: the hostile peer of the attack suite (test/hostile/README.md).
//
//   procmod_attacker ENDPOINT KIND SECONDS SEED
//
// KIND is random-frames, bad-headers, hello-flood, oversized, non-reader or all (every
// kind at once, one thread each). It opens its sockets (and gets admitted where an
// attack needs a session), prints "attacker: attacking", attacks ENDPOINT for SECONDS,
// prints one "attacker: KIND ..." tally line per kind (what it sent, what came back, by
// command) and exits 0. What it sends follows from SEED, so that a failing run can be
// replayed (timing, and so what the server answers, differs from run to run).
//
// It is a separate process, not threads of the test, so that its CPU, its sockets and
// its file descriptors are its own, as an attacker's would be, and so that killing it
// closes every connection at once. Every socket call is non-blocking or polled with a
// short timeout: the attacker always stops on time.
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "protocol/codec.h"

namespace procmod::hostile {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Frames = std::vector<zmq::message_t>;

// The server under attack runs with limits.max_message_size = 64 KiB (hostile_test.cc).
constexpr size_t kMaxMessageSize = 64 * 1024;

// Random bytes made once and sliced for payloads: filling megabytes per message from
// the generator would make the attacker, not the server, the bottleneck.
class Pool {
 public:
  static constexpr size_t kSize = 8 << 20;  // the largest oversized frame, and then some

  explicit Pool(uint64_t seed) : bytes_(kSize) {
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i + 8 <= bytes_.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(&bytes_[i], &v, 8);
    }
  }

  // `size` bytes from a random offset (a copy: small frames).
  std::string Slice(std::mt19937_64& rng, size_t size) const {
    size = std::min(size, bytes_.size());
    const size_t offset = rng() % (bytes_.size() - size + 1);
    return std::string(bytes_.data() + offset, size);
  }
  // A frame over `size` pool bytes without copying them: the pool outlives every
  // socket (sockets close with linger 0 before main returns).
  zmq::message_t Frame(std::mt19937_64& rng, size_t size) const {
    size = std::min(size, bytes_.size());
    const size_t offset = rng() % (bytes_.size() - size + 1);
    return zmq::message_t(const_cast<char*>(bytes_.data() + offset), size, nullptr, nullptr);
  }

 private:
  std::vector<char> bytes_;
};

// What one kind of attack did, printed at the end.
struct Tally {
  uint64_t sent = 0;                       // messages
  uint64_t bytes = 0;                      // bytes of all their frames
  uint64_t would_block = 0;                // sends refused at the attacker's own SNDHWM
  uint64_t sockets = 0;                    // DEALERs opened, so connections made
  uint64_t received = 0;                   // messages that came back
  std::array<uint64_t, 256> by_command{};  // ... by the command byte of their envelope
  uint64_t not_pmp = 0;                    // ... that did not start with "PMP1"

  std::string Line(std::string_view kind) const {
    static constexpr std::array<std::pair<uint8_t, const char*>, 6> kShown = {{{0x02, "welcome"},
                                                                               {0x03, "deny"},
                                                                               {0x04, "ping"},
                                                                               {0x05, "bye"},
                                                                               {0x08, "reply"},
                                                                               {0x09, "error"}}};
    std::string line =
        "attacker: " + std::string(kind) + " sent=" + std::to_string(sent) +
        " bytes=" + std::to_string(bytes) + " would_block=" + std::to_string(would_block) +
        " sockets=" + std::to_string(sockets) + " received=" + std::to_string(received);
    uint64_t shown = 0;
    for (auto [command, name] : kShown) {
      line += " " + std::string(name) + "=" + std::to_string(by_command[command]);
      shown += by_command[command];
    }
    line += " other=" + std::to_string(received - shown - not_pmp);
    line += " not_pmp=" + std::to_string(not_pmp);
    return line;
  }
};

// A budget of events per second (new connections, messages), refilled continuously.
class Rate {
 public:
  explicit Rate(double per_second) : per_second_(per_second), last_(Clock::now()) {}
  bool Take() {
    const auto now = Clock::now();
    tokens_ = std::min(per_second_ / 10,  // at most a tenth of a second's worth at once
                       tokens_ + per_second_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double per_second_;
  double tokens_ = 0;
  Clock::time_point last_;
};

// The common part of every attack: sockets, non-blocking sends, draining what the
// server answers, and the tally.
class Attack {
 public:
  Attack(zmq::context_t& context, std::string endpoint, uint64_t seed, const Pool& pool)
      : context_(context), endpoint_(std::move(endpoint)), rng_(seed), pool_(pool) {}
  virtual ~Attack() = default;

  // Opens the sockets and gets admitted where the attack needs a session. All kinds
  // prepare before any attacks, so that in "all" the HELLO flood cannot take the
  // slots the others need.
  virtual void Prepare() = 0;
  virtual void Run(Clock::time_point until) = 0;
  const Tally& tally() const { return tally_; }

 protected:
  using Socket = std::unique_ptr<zmq::socket_t>;

  // A DEALER connected to the server. With `random_id` it presents a random routing
  // id (PROTOCOL §14: 1-255 bytes, not starting with 0x00), as a careful client does.
  Socket NewDealer(bool random_id) {
    auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    if (random_id) {
      std::string id = pool_.Slice(rng_, 1 + rng_() % 32);
      id[0] = static_cast<char>(1 + rng_() % 255);
      socket->set(zmq::sockopt::routing_id, zmq::buffer(id));
    }
    socket->connect(endpoint_);
    tally_.sockets++;
    return socket;
  }

  // Sends without waiting; false (counted) when the socket's queue is full.
  bool TrySend(zmq::socket_t& socket, Frames& frames) {
    uint64_t bytes = 0;
    for (const auto& f : frames) bytes += f.size();
    try {
      if (!zmq::send_multipart(socket, frames, zmq::send_flags::dontwait)) {
        tally_.would_block++;
        return false;
      }
    } catch (const zmq::error_t&) {
      return false;  // e.g. EHOSTUNREACH while reconnecting: try again later
    }
    tally_.sent++;
    tally_.bytes += bytes;
    return true;
  }
  bool TrySend(zmq::socket_t& socket, Frames&& frames) { return TrySend(socket, frames); }

  // Reads and counts everything the server has sent to `socket` so far, so its answers
  // cost it a send (and the attacker its own receive queue is never the limit).
  // Returns the command byte of the last message received (0 when none).
  uint8_t Drain(zmq::socket_t& socket, uint32_t* code = nullptr) {
    uint8_t last = 0;
    for (;;) {
      Frames frames;
      try {
        if (!zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
          return last;
        }
      } catch (const zmq::error_t&) {
        return last;
      }
      tally_.received++;
      if (frames.empty() || frames[0].size() < 5 || std::memcmp(frames[0].data(), "PMP1", 4) != 0) {
        tally_.not_pmp++;
        continue;
      }
      last = frames[0].data<uint8_t>()[4];
      tally_.by_command[last]++;
      if (code != nullptr && (last == 0x03 || last == 0x09)) {
        Result<pmp::Header> header = decoder_.DecodeEnvelope(frames[0]);
        if (header.ok()) {
          *code =
              last == 0x03 ? std::get<pmp::Deny>(*header).code : std::get<pmp::Error>(*header).code;
        }
      }
    }
  }

  // Waits up to `timeout` for any of `sockets` to become readable or writable: the
  // attacker's only pause, when all its queues are full.
  static void WaitForAny(const std::vector<zmq::socket_t*>& sockets, milliseconds timeout) {
    std::vector<zmq::pollitem_t> items;
    for (zmq::socket_t* s : sockets) {
      items.push_back({s->handle(), 0, ZMQ_POLLIN | ZMQ_POLLOUT, 0});
    }
    zmq::poll(items.data(), items.size(), timeout);
  }

  // The HELLO of a well-behaved client.
  static pmp::Hello ValidHello(std::string name = "attacker") {
    pmp::Hello hello;
    hello.role = "client";
    hello.version = std::string(pmp::kProtocolVersion);
    hello.name = std::move(name);
    hello.heartbeat_ms = 1000;
    return hello;
  }

  // HELLO as a valid client, then the WELCOME. False on DENY or after 2 s: the attack
  // goes on without a session (and the server answers it ERROR 404).
  bool Admit(zmq::socket_t& socket, std::string name) {
    TrySend(socket, pmp::Encode(ValidHello(std::move(name))));
    const auto deadline = Clock::now() + milliseconds(2000);
    while (Clock::now() < deadline) {
      zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, milliseconds(10));
      const uint8_t last = Drain(socket);
      if (last == 0x02) return true;
      if (last == 0x03) return false;
    }
    return false;
  }

  static std::vector<zmq::socket_t*> Raw(const std::vector<Socket>& sockets) {
    std::vector<zmq::socket_t*> raw;
    for (const auto& s : sockets) raw.push_back(s.get());
    return raw;
  }

  static Frames One(std::string bytes) {
    Frames frames;
    frames.emplace_back(bytes.data(), bytes.size());
    return frames;
  }

  zmq::context_t& context_;
  const std::string endpoint_;
  std::mt19937_64 rng_;
  const Pool& pool_;
  Tally tally_;
  pmp::Decoder decoder_;
};

// ---- 1. random frames ------------------------------------------------------------

// Multipart messages of random bytes from a few DEALERs, some starting with "PMP1"
// and a command byte so that decoding goes past the signature. Now and then a DEALER
// is replaced by a new one: a new connection and routing id.
class RandomFrames : public Attack {
 public:
  using Attack::Attack;

  void Prepare() override {
    for (int i = 0; i < 8; ++i) sockets_.push_back(NewDealer(rng_() % 2 == 0));
  }

  void Run(Clock::time_point until) override {
    Rate churn(100);  // new connections per second
    while (Clock::now() < until) {
      bool any_sent = false;
      for (auto& socket : sockets_) {
        Drain(*socket);
        any_sent |= TrySend(*socket, Message());
      }
      if (churn.Take()) sockets_[rng_() % sockets_.size()] = NewDealer(rng_() % 2 == 0);
      if (!any_sent) WaitForAny(Raw(sockets_), milliseconds(5));
    }
    sockets_.clear();
  }

 private:
  Frames Message() {
    Frames frames;
    const int count = 1 + static_cast<int>(rng_() % 6);
    for (int i = 0; i < count; ++i) {
      std::string bytes = pool_.Slice(rng_, FrameSize());
      if (i == 0 && rng_() % 3 == 0) {
        bytes = "PMP1" + std::string(1, static_cast<char>(rng_() % 256)) + bytes;
      }
      frames.emplace_back(bytes.data(), bytes.size());
    }
    return frames;
  }

  size_t FrameSize() {
    const uint64_t r = rng_() % 100;
    if (r < 50) return rng_() % 16;
    if (r < 80) return 16 + rng_() % 240;
    if (r < 95) return 256 + rng_() % 3840;
    return 4096 + rng_() % (kMaxMessageSize - 4096);
  }

  std::vector<Socket> sockets_;
};

// ---- 2. valid envelopes, hostile headers -------------------------------------------

// Msgpack written byte by byte, so that it can be anything: every type, wrong types
// for known keys, lengths that claim far more than follows, nesting far deeper than
// the decoder's limit of 32, truncation and trailing bytes.
class JunkHeader {
 public:
  explicit JunkHeader(std::mt19937_64& rng) : rng_(rng) {}

  // One header for command `command`: the bytes after "PMP1" and the command byte.
  std::string Make(uint8_t command) {
    std::string out;
    const uint64_t mode = rng_() % 100;
    if (mode < 35) {
      RandomMap(out);
    } else if (mode < 70) {
      ShapedMap(out, command);
    } else if (mode < 82) {
      LyingMap(out);
    } else {
      DeepMap(out);
    }
    const uint64_t damage = rng_() % 10;
    if (damage == 0 && !out.empty()) out.resize(rng_() % out.size());  // truncated
    if (damage == 1) out += static_cast<char>(rng_() % 256);           // a byte after the map
    return out;
  }

 private:
  static constexpr std::array<std::string_view, 23> kKnownKeys = {
      "connect_id", "role",   "name",    "version",  "software",      "heartbeat_ms",
      "service",    "multi",  "session", "liveness", "expires_in_ms", "code",
      "reason",     "t",      "echo",    "held",     "channel",       "peer",
      "id",         "method", "args",    "error",    "result"};
  static constexpr std::array<std::string_view, 11> kMethods = {"ping",
                                                                "info",
                                                                "collab.accept",
                                                                "collab.connect_id",
                                                                "collab.subscribe",
                                                                "connections.list",
                                                                "connections.close",
                                                                "process.info",
                                                                "",
                                                                "\xff\xfe",
                                                                std::string_view("ping\0x", 6)};

  uint64_t Pick(uint64_t n) { return rng_() % n; }

  void Byte(std::string& out, uint64_t b) { out += static_cast<char>(b & 0xff); }
  void BigEndian(std::string& out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) Byte(out, v >> (8 * i));
  }
  void Str(std::string& out, std::string_view s) {
    if (s.size() < 32 && Pick(4) != 0) {
      Byte(out, 0xa0 | s.size());
    } else if (s.size() < 256 && Pick(2) == 0) {
      Byte(out, 0xd9);
      BigEndian(out, s.size(), 1);
    } else if (s.size() < 65536 && Pick(2) == 0) {
      Byte(out, 0xda);
      BigEndian(out, s.size(), 2);
    } else {
      Byte(out, 0xdb);
      BigEndian(out, s.size(), 4);
    }
    out += s;
  }
  std::string RandomText(size_t max) {
    std::string s(Pick(max + 1), '\0');
    for (char& c : s) c = static_cast<char>(Pick(4) == 0 ? Pick(256) : 'a' + Pick(26));
    return s;
  }
  void MapHeader(std::string& out, uint64_t n) {
    if (n < 16 && Pick(4) != 0) {
      Byte(out, 0x80 | n);
    } else if (n < 65536 && Pick(2) == 0) {
      Byte(out, 0xde);
      BigEndian(out, n, 2);
    } else {
      Byte(out, 0xdf);
      BigEndian(out, n, 4);
    }
  }
  void ArrayHeader(std::string& out, uint64_t n) {
    if (n < 16 && Pick(2) == 0) {
      Byte(out, 0x90 | n);
    } else {
      Byte(out, 0xdc);
      BigEndian(out, n, 2);
    }
  }
  void Uint(std::string& out, uint64_t v) {
    switch (Pick(5)) {
      case 0:
        Byte(out, 0xcf);
        BigEndian(out, v, 8);
        break;
      case 1:
        Byte(out, 0xd3);  // int 64 holding a value that may be negative
        BigEndian(out, v, 8);
        break;
      case 2:
        Byte(out, 0xce);
        BigEndian(out, v, 4);
        break;
      case 3:
        Byte(out, 0xcd);
        BigEndian(out, v, 2);
        break;
      default:
        Byte(out, v & 0x7f);
    }
  }

  // Any msgpack object, `depth` levels of containers at most.
  void Object(std::string& out, int depth) {
    switch (Pick(depth > 0 ? 14 : 11)) {
      case 0:
        Byte(out, 0xc0);  // nil
        break;
      case 1:
        Byte(out, 0xc2 + Pick(2));  // false, true
        break;
      case 2:
        Byte(out, Pick(2) == 0 ? Pick(0x80) : 0xe0 + Pick(32));  // fixints
        break;
      case 3:
        Uint(out, rng_());
        break;
      case 4: {
        static constexpr std::array<uint8_t, 4> kSigned = {0xd0, 0xd1, 0xd2, 0xd3};
        const int width = static_cast<int>(Pick(4));
        Byte(out, kSigned[width]);
        BigEndian(out, rng_(), 1 << width);
        break;
      }
      case 5: {
        const bool single = Pick(2) == 0;  // float 32 or 64: any bits, NaN included
        Byte(out, single ? 0xca : 0xcb);
        BigEndian(out, rng_(), single ? 4 : 8);
        break;
      }
      case 6:
      case 7:
        Str(out, RandomText(40));
        break;
      case 8: {
        const std::string bytes = RandomText(40);
        Byte(out, 0xc4);  // bin 8
        BigEndian(out, bytes.size(), 1);
        out += bytes;
        break;
      }
      case 9: {
        static constexpr std::array<uint8_t, 5> kFixext = {0xd4, 0xd5, 0xd6, 0xd7, 0xd8};
        const int width = static_cast<int>(Pick(5));
        Byte(out, kFixext[width]);
        Byte(out, Pick(256));  // the type, negative ones (timestamps) included
        BigEndian(out, rng_(), std::min(1 << width, 8));
        if (width == 4) BigEndian(out, rng_(), 8);
        break;
      }
      case 10:
        Byte(out, 0xc1);  // never used: invalid everywhere
        break;
      case 11:
      case 12: {
        const uint64_t n = Pick(5);
        ArrayHeader(out, n);
        for (uint64_t i = 0; i < n; ++i) Object(out, depth - 1);
        break;
      }
      default: {
        const uint64_t n = Pick(4);
        MapHeader(out, n);
        for (uint64_t i = 0; i < n; ++i) {
          Object(out, depth - 1);
          Object(out, depth - 1);
        }
      }
    }
  }

  // Keys: mostly ones the decoder knows (so their type is checked), some unknown, some
  // not strings at all.
  void Key(std::string& out) {
    const uint64_t r = Pick(100);
    if (r < 60) {
      Str(out, kKnownKeys[Pick(kKnownKeys.size())]);
    } else if (r < 85) {
      Str(out, RandomText(12));
    } else {
      Object(out, 1);
    }
  }

  void RandomMap(std::string& out) {
    const uint64_t n = Pick(10);
    MapHeader(out, n);
    for (uint64_t i = 0; i < n; ++i) {
      Key(out);
      Object(out, 3);
    }
  }

  // The keys the command needs, each of the right type four times in five: many of
  // these messages are well-formed, and reach admission, sessions and the services
  // (unknown methods, odd versions and roles, arguments of every shape).
  void ShapedMap(std::string& out, uint8_t command) {
    struct Field {
      std::string_view key;
      char type;  // u uint, s str, b bool, m map, a any
    };
    static const std::array<std::vector<Field>, 12> kFields = {{
        {},
        {{"connect_id", 'u'}, {"role", 's'}, {"name", 's'}, {"version", 's'}},  // HELLO
        {{"session", 's'}, {"version", 's'}, {"heartbeat_ms", 'u'}, {"liveness", 'u'}},
        {{"code", 'u'}, {"reason", 's'}},
        {{"t", 'u'}, {"echo", 'u'}, {"held", 'u'}},
        {{"reason", 's'}},
        {{"channel", 's'}, {"peer", 's'}},
        {{"id", 'u'}, {"method", 's'}, {"args", 'm'}},
        {{"id", 'u'}, {"code", 'u'}, {"result", 'a'}},
        {{"code", 'u'}, {"reason", 's'}},
        {{"session", 's'}, {"name", 's'}},
        {{"session", 's'}, {"reason", 's'}},
    }};
    const std::vector<Field>& fields = kFields[command < kFields.size() ? command : 0];
    const uint64_t extra = Pick(3);
    MapHeader(out, fields.size() + extra);
    for (const Field& field : fields) {
      Str(out, field.key);
      if (Pick(5) == 0) {
        Object(out, 2);
        continue;
      }
      switch (field.type) {
        case 'u':
          Uint(out, Pick(3) == 0 ? rng_() : Pick(2000));
          break;
        case 's':
          Str(out, Text(field.key));
          break;
        case 'b':
          Byte(out, 0xc2 + Pick(2));
          break;
        case 'm': {
          const uint64_t n = Pick(4);
          MapHeader(out, n);
          for (uint64_t i = 0; i < n; ++i) {
            Str(out, Pick(2) == 0 ? std::string_view("enabled")
                                  : (Pick(2) == 0 ? std::string_view("id") : "session"));
            Object(out, 2);
          }
          break;
        }
        default:
          Object(out, 3);
      }
    }
    for (uint64_t i = 0; i < extra; ++i) {
      Key(out);
      Object(out, 2);
    }
  }

  std::string Text(std::string_view key) {
    if (key == "method") return std::string(kMethods[Pick(kMethods.size())]);
    if (key == "role") return Pick(2) == 0 ? "client" : RandomText(14);
    if (key == "version") {
      static constexpr std::array<std::string_view, 9> kVersions = {
          "1.0", "1", "1.9", "2.0", "0.1", "", "1.", "99999999999999999999.0", "-1.0"};
      return std::string(kVersions[Pick(kVersions.size())]);
    }
    if (key == "channel") return Pick(2) == 0 ? "broadcast" : RandomText(10);
    return RandomText(Pick(10) == 0 ? 2000 : 20);
  }

  // A container or string whose length prefix claims up to 4 GiB: the decoder must
  // refuse it from the header's size (PROTOCOL §8, rule 12), not allocate it.
  void LyingMap(std::string& out) {
    if (Pick(4) == 0) {
      Byte(out, 0xdf);  // the header map itself
      BigEndian(out, 0xffffffff - Pick(16), 4);
    } else {
      MapHeader(out, 1 + Pick(3));
      Key(out);
    }
    static constexpr std::array<uint8_t, 8> kLong = {0xdb, 0xc6, 0xdd, 0xdf,
                                                     0xc9, 0xda, 0xdc, 0xde};
    const uint8_t type = kLong[Pick(kLong.size())];
    Byte(out, type);
    const bool four = type == 0xdb || type == 0xc6 || type == 0xdd || type == 0xdf || type == 0xc9;
    BigEndian(out, four ? 0xffffffff - Pick(1000) : 0xffff - Pick(100), four ? 4 : 2);
    if (type == 0xc9) Byte(out, Pick(256));  // the ext type
    out += RandomText(16);
  }

  // One key whose value nests containers up to 3,000 deep (the limit is 32).
  void DeepMap(std::string& out) {
    MapHeader(out, 1);
    Str(out, Pick(2) == 0 ? "args" : kKnownKeys[Pick(kKnownKeys.size())]);
    const uint64_t depth = Pick(3) == 0 ? Pick(3000) : 25 + Pick(15);
    const bool maps = Pick(2) == 0;
    for (uint64_t i = 0; i < depth; ++i) {
      if (maps) {
        Byte(out, 0x81);
        Str(out, "a");
      } else {
        Byte(out, 0x91);
      }
    }
    Byte(out, 0xc0);
  }

  std::mt19937_64& rng_;
};

// PMP1, a command byte (mostly valid ones) and a JunkHeader, sometimes with payload
// frames, from unadmitted DEALERs and from admitted ones (so that well-formed
// messages also reach the session's handlers).
class BadHeaders : public Attack {
 public:
  using Attack::Attack;

  void Prepare() override {
    for (int i = 0; i < 4; ++i) {
      admitted_.push_back(NewDealer(true));
      Admit(*admitted_.back(), "junk-" + std::to_string(i));
    }
    for (int i = 0; i < 4; ++i) strangers_.push_back(NewDealer(rng_() % 2 == 0));
  }

  void Run(Clock::time_point until) override {
    std::vector<Socket> admitted = std::move(admitted_);
    std::vector<Socket> strangers = std::move(strangers_);
    JunkHeader junk(rng_);
    auto next_hello = Clock::now();
    while (Clock::now() < until) {
      bool any_sent = false;
      for (auto& socket : admitted) {
        Drain(*socket);
        any_sent |= TrySend(*socket, Message(junk, /*in_session=*/true));
      }
      for (auto& socket : strangers) {
        Drain(*socket);
        any_sent |= TrySend(*socket, Message(junk, /*in_session=*/false));
      }
      // Junk ends sessions (a well-formed BYE) and is not life (PROTOCOL §8): a HELLO
      // now and then admits the admitted DEALERs again (or replaces their session).
      if (Clock::now() >= next_hello) {
        next_hello = Clock::now() + milliseconds(200);
        for (auto& socket : admitted) TrySend(*socket, pmp::Encode(ValidHello()));
      }
      if (!any_sent) {
        std::vector<zmq::socket_t*> all = Raw(admitted);
        for (auto& s : strangers) all.push_back(s.get());
        WaitForAny(all, milliseconds(5));
      }
    }
  }

 private:
  // In a session no BYE: one would end it, and the rest would only get ERROR 404.
  Frames Message(JunkHeader& junk, bool in_session) {
    static constexpr std::array<uint8_t, 12> kCommon = {0x01, 0x01, 0x04, 0x05, 0x06, 0x06,
                                                        0x07, 0x07, 0x07, 0x07, 0x08, 0x09};
    const uint64_t r = rng_() % 100;
    uint8_t command;
    if (r < 60) {
      command = kCommon[rng_() % kCommon.size()];
    } else if (r < 80) {
      command = static_cast<uint8_t>(1 + rng_() % 11);
    } else {
      command = static_cast<uint8_t>(rng_() % 256);
    }
    if (in_session && command == 0x05) command = 0x07;
    std::string envelope = "PMP1";
    envelope += static_cast<char>(command);
    envelope += junk.Make(command);
    Frames frames = One(std::move(envelope));
    // Payload, also on commands that take none (malformed, PROTOCOL §8 rule 11).
    if (rng_() % 5 == 0) {
      const uint64_t n = 1 + rng_() % 3;
      for (uint64_t i = 0; i < n; ++i) {
        std::string bytes = pool_.Slice(rng_, rng_() % 512);
        frames.emplace_back(bytes.data(), bytes.size());
      }
    }
    return frames;
  }

  std::vector<Socket> admitted_;
  std::vector<Socket> strangers_;
};

// ---- 3. HELLO flood ------------------------------------------------------------------

// Twice max_connections DEALERs (64 in the test), each saying HELLO over and over, and
// a steady stream of new DEALERs (new connections, new routing ids) replacing old ones:
// the server's slots fill, the rest get DENY 503, and sessions of closed DEALERs wait
// for expiry. Some HELLOs are denied for other reasons (role, version) and some carry
// long names (they end up in the server's log).
class HelloFlood : public Attack {
 public:
  using Attack::Attack;

  void Prepare() override {
    for (int i = 0; i < 128; ++i) sockets_.push_back(NewDealer(rng_() % 2 == 0));
  }

  void Run(Clock::time_point until) override {
    Rate churn(400);  // new connections per second, below what loopback ports allow
    while (Clock::now() < until) {
      bool any_sent = false;
      for (auto& socket : sockets_) {
        Drain(*socket);
        any_sent |= TrySend(*socket, pmp::Encode(Hello()));
      }
      for (int i = 0; i < 16 && churn.Take(); ++i) {
        sockets_[rng_() % sockets_.size()] = NewDealer(rng_() % 2 == 0);
      }
      if (!any_sent) WaitForAny(Raw(sockets_), milliseconds(5));
    }
    sockets_.clear();
  }

 private:
  pmp::Hello Hello() {
    pmp::Hello hello = ValidHello();
    const uint64_t r = rng_() % 100;
    if (r < 3) hello.role = "server";                        // DENY 403
    if (r >= 3 && r < 6) hello.version = "2.0";              // DENY 426
    if (r >= 6 && r < 8) hello.connect_id = 1 + rng_() % 9;  // DENY 403
    hello.name = r % 20 == 0 ? std::string(1000 + rng_() % 1000, 'x')
                             : "flood-" + std::to_string(rng_() % 100000);
    return hello;
  }

  std::vector<Socket> sockets_;
};

// ---- 4. oversized messages -----------------------------------------------------------

// Messages over max_message_size three ways: one frame larger than it (libzmq's
// MAXMSGSIZE cuts the connection; the DEALER reconnects), many frames each under it
// but together over it (the server reads them and answers ERROR 413), and the same
// inside an admitted session (REQUEST and broadcast DATA that must not be relayed).
class Oversized : public Attack {
 public:
  using Attack::Attack;

  void Prepare() override {
    for (int i = 0; i < 2; ++i) {
      big_frame_.push_back(NewDealer(false));
      big_frame_.back()->set(zmq::sockopt::reconnect_ivl, 20);
      big_frame_.back()->set(zmq::sockopt::sndhwm, 4);  // bounded: each is megabytes
    }
    for (int i = 0; i < 4; ++i) {
      many_frames_.push_back(NewDealer(rng_() % 2 == 0));
      many_frames_.back()->set(zmq::sockopt::sndhwm, 16);
    }
    member_ = NewDealer(true);
    member_->set(zmq::sockopt::sndhwm, 16);
    Admit(*member_, "oversized");
  }

  void Run(Clock::time_point until) override {
    std::vector<Socket> big_frame = std::move(big_frame_);
    std::vector<Socket> many_frames = std::move(many_frames_);
    Socket member = std::move(member_);
    auto next_ping = Clock::now();
    while (Clock::now() < until) {
      bool any_sent = false;
      for (auto& socket : big_frame) {
        Drain(*socket);
        Frames frames;
        frames.push_back(pool_.Frame(rng_, kMaxMessageSize + 1 + rng_() % (4 << 20)));
        any_sent |= TrySend(*socket, frames);
      }
      for (auto& socket : many_frames) {
        Drain(*socket);
        any_sent |= TrySend(*socket, ManyFrames(""));
      }
      Drain(*member);
      Frames in_session = ManyFrames(rng_() % 2 == 0 ? "request" : "broadcast");
      any_sent |= TrySend(*member, in_session);
      if (Clock::now() >= next_ping) {  // 413s are not life
        next_ping = Clock::now() + milliseconds(200);
        TrySend(*member, pmp::Encode(pmp::Ping{.t = rng_()}));
      }
      if (!any_sent) {
        std::vector<zmq::socket_t*> all{member.get()};
        for (auto& s : big_frame) all.push_back(s.get());
        for (auto& s : many_frames) all.push_back(s.get());
        WaitForAny(all, milliseconds(5));
      }
    }
  }

 private:
  // 2-32 frames of up to 64 KiB each, over 64 KiB together. `kind` "" starts with
  // random bytes, else with a REQUEST ping or a DATA broadcast envelope.
  Frames ManyFrames(std::string_view kind) {
    Frames frames;
    if (kind == "request") {
      frames.push_back(pmp::EncodeEnvelope(pmp::Request{.id = rng_() % 1000, .method = "ping"}));
    } else if (kind == "broadcast") {
      frames.push_back(pmp::EncodeEnvelope(pmp::Data{.channel = "broadcast"}));
    }
    size_t total = 0;
    const size_t count = 2 + rng_() % 31;
    for (size_t i = 0; i < count || total <= kMaxMessageSize; ++i) {
      const size_t size = 16 * 1024 + rng_() % (kMaxMessageSize - 16 * 1024 + 1);
      frames.push_back(pool_.Frame(rng_, size));
      total += size;
    }
    return frames;
  }

  std::vector<Socket> big_frame_;
  std::vector<Socket> many_frames_;
  Socket member_;
};

// ---- 5. the peer that never reads ----------------------------------------------------

// Four admitted peers that stop reading once admitted and then ask for as much as the
// server will send: REQUEST ping with 16 KiB payloads (echoed back), info, and
// collab news; a fifth peer, which does read, sends broadcast DATA that the server
// relays to all of them. Their receive queues are made tiny so that the pressure
// reaches the server's send queues at once. The server must drop what does not fit
// (PROTOCOL §14) rather than buffer it or wait.
class NonReader : public Attack {
 public:
  using Attack::Attack;

  // Each ping's payload, echoed back. The server may hold send_queue (1000) replies
  // per peer, so 4 x 16 MiB of them by design: hostile_test.cc's RSS bound counts on it.
  static constexpr size_t kEchoSize = 16 * 1024;

  void Prepare() override {
    for (int i = 0; i < 4; ++i) {
      Socket socket = NewDealer(true);
      socket->set(zmq::sockopt::rcvhwm, 1);
      socket->set(zmq::sockopt::rcvbuf, 4096);
      if (Admit(*socket, "never-reads-" + std::to_string(i))) {
        TrySend(*socket,
                pmp::Encode(pmp::Request{.id = 1, .method = "collab.subscribe", .args = "\x80"}));
      }
      silent_.push_back(std::move(socket));
    }
    talker_ = NewDealer(true);
    Admit(*talker_, "talker");
  }

  void Run(Clock::time_point until) override {
    std::vector<Socket> silent = std::move(silent_);
    Socket talker = std::move(talker_);
    Rate broadcasts(1000);  // per second: the legitimate client gets them too
    uint64_t id = 2;
    while (Clock::now() < until) {
      bool any_sent = false;
      for (auto& socket : silent) {
        Frames frames = pmp::Encode(pmp::Request{.id = id++, .method = "ping"});
        frames.push_back(pool_.Frame(rng_, kEchoSize));
        if (id % 16 == 0) frames = pmp::Encode(pmp::Request{.id = id++, .method = "info"});
        any_sent |= TrySend(*socket, frames);
      }
      Drain(*talker);
      if (broadcasts.Take()) {
        Frames frames = pmp::Encode(pmp::Data{.channel = "broadcast"});
        frames.push_back(pool_.Frame(rng_, 1024));
        TrySend(*talker, frames);
      }
      if (!any_sent) {
        std::vector<zmq::pollitem_t> items;
        for (auto& s : silent) items.push_back({s->handle(), 0, ZMQ_POLLOUT, 0});
        zmq::poll(items.data(), items.size(), milliseconds(5));
      }
    }
  }

  std::vector<Socket> silent_;
  Socket talker_;
};

// ---- main ----------------------------------------------------------------------------

constexpr std::array<std::string_view, 5> kKinds = {"random-frames", "bad-headers", "hello-flood",
                                                    "oversized", "non-reader"};

std::unique_ptr<Attack> MakeAttack(std::string_view kind, zmq::context_t& context,
                                   const std::string& endpoint, uint64_t seed, const Pool& pool) {
  if (kind == "random-frames") return std::make_unique<RandomFrames>(context, endpoint, seed, pool);
  if (kind == "bad-headers") return std::make_unique<BadHeaders>(context, endpoint, seed, pool);
  if (kind == "hello-flood") return std::make_unique<HelloFlood>(context, endpoint, seed, pool);
  if (kind == "oversized") return std::make_unique<Oversized>(context, endpoint, seed, pool);
  if (kind == "non-reader") return std::make_unique<NonReader>(context, endpoint, seed, pool);
  return nullptr;
}

int Main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: procmod_attacker ENDPOINT KIND SECONDS SEED\n");
    return 2;
  }
  const std::string endpoint = argv[1];
  const std::string_view kind = argv[2];
  const double seconds = std::strtod(argv[3], nullptr);
  const uint64_t seed = std::strtoull(argv[4], nullptr, 10);
  // Only the test's loopback server is ever a target.
  if (!endpoint.starts_with("tcp://127.0.0.1:") && !endpoint.starts_with("ipc://")) {
    std::fprintf(stderr, "procmod_attacker: refusing non-loopback endpoint %s\n", endpoint.c_str());
    return 2;
  }
  if (!(seconds > 0 && seconds <= 600)) {
    std::fprintf(stderr, "procmod_attacker: SECONDS must be in (0, 600]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::string_view> kinds;
  if (kind == "all") {
    kinds.assign(kKinds.begin(), kKinds.end());
  } else {
    kinds.push_back(kind);
  }
  const Pool pool(seed);
  zmq::context_t context(1);
  context.set(zmq::ctxopt::max_sockets, 4096);
  std::vector<std::unique_ptr<Attack>> attacks;
  for (size_t i = 0; i < kinds.size(); ++i) {
    attacks.push_back(MakeAttack(kinds[i], context, endpoint, seed + i + 1, pool));
    if (!attacks.back()) {
      std::fprintf(stderr, "procmod_attacker: unknown kind '%s'\n", argv[2]);
      return 2;
    }
  }
  for (auto& attack : attacks) attack->Prepare();
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
  std::printf("attacker: attacking %s for %.1f s, seed %" PRIu64 "\n", argv[2], seconds, seed);
  std::fflush(stdout);
  std::vector<std::thread> threads;
  for (auto& attack : attacks) threads.emplace_back([&attack, until] { attack->Run(until); });
  for (auto& thread : threads) thread.join();
  for (size_t i = 0; i < kinds.size(); ++i) {
    std::printf("%s\n", attacks[i]->tally().Line(kinds[i]).c_str());
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace procmod::hostile

int main(int argc, char** argv) { return procmod::hostile::Main(argc, argv); }
