#include "protocol/codec.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <msgpack.hpp>
#include <zmq.hpp>

namespace procmod::pmp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// ---- helpers ----------------------------------------------------------------

// Every field of a header struct, so that EXPECT_EQ compares (and on failure
// prints) all of them at once.
auto Fields(const Hello& m) {
  return std::tie(m.connect_id, m.role, m.name, m.version, m.software, m.heartbeat_ms, m.service,
                  m.multi, m.resume);
}
auto Fields(const Welcome& m) {
  return std::tie(m.session, m.role, m.name, m.version, m.software, m.heartbeat_ms, m.liveness,
                  m.multi, m.expires_in_ms, m.resume_token, m.resume_grace_ms);
}
auto Fields(const Deny& m) { return std::tie(m.code, m.reason); }
auto Fields(const Ping& m) { return std::tie(m.t, m.echo, m.held, m.ack, m.sent, m.resend); }
auto Fields(const Bye& m) { return std::tie(m.reason); }
auto Fields(const Data& m) { return std::tie(m.channel, m.peer, m.seq, m.ack); }
auto Fields(const Request& m) { return std::tie(m.id, m.method, m.args, m.peer, m.seq, m.ack); }
auto Fields(const Reply& m) {
  return std::tie(m.id, m.code, m.error, m.result, m.peer, m.seq, m.ack);
}
auto Fields(const Error& m) { return std::tie(m.code, m.reason); }
auto Fields(const Joined& m) { return std::tie(m.session, m.name, m.role); }
auto Fields(const Left& m) { return std::tie(m.session, m.reason); }
auto Fields(const Resume& m) { return std::tie(m.session, m.token, m.received); }
auto Fields(const Resumed& m) { return std::tie(m.session, m.received); }

zmq::message_t Frame(std::string_view bytes) {
  return zmq::message_t(bytes.data(), bytes.size());
}

std::string Bytes(const zmq::message_t& frame) {
  return std::string(frame.data<char>(), frame.size());
}

// One msgpack value, encoded.
template <typename T>
std::string Pack(const T& value) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  return std::string(buffer.data(), buffer.size());
}

// A header map written by hand, so a test can put any value under any key: keys
// are written in the order they were first set, values are already encoded.
class RawMap {
 public:
  RawMap& SetPacked(std::string key, std::string packed) {
    for (auto& [k, v] : entries_) {
      if (k == key) {
        v = std::move(packed);
        return *this;
      }
    }
    entries_.emplace_back(std::move(key), std::move(packed));
    return *this;
  }
  template <typename T>
  RawMap& Set(std::string key, const T& value) {
    return SetPacked(std::move(key), Pack(value));
  }
  RawMap& Erase(std::string_view key) {
    std::erase_if(entries_, [key](const auto& entry) { return entry.first == key; });
    return *this;
  }
  std::string Encode() const {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> packer(buffer);
    packer.pack_map(static_cast<uint32_t>(entries_.size()));
    for (const auto& [key, value] : entries_) {
      packer.pack(key);
      buffer.write(value.data(), value.size());
    }
    return std::string(buffer.data(), buffer.size());
  }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// An envelope frame built by hand: signature, command byte, raw header bytes.
zmq::message_t RawEnvelope(std::string_view signature, uint8_t command,
                           std::string_view header) {
  std::string bytes(signature);
  bytes.push_back(static_cast<char>(command));
  bytes.append(header);
  return Frame(bytes);
}
zmq::message_t RawEnvelope(Command command, std::string_view header) {
  return RawEnvelope(kSignature, static_cast<uint8_t>(command), header);
}

Result<Message> DecodeFrames(Frames frames, size_t first = 0) {
  Decoder decoder;
  return decoder.Decode(frames, first);
}

Result<Message> DecodeEnvelopeFrame(zmq::message_t envelope) {
  Frames frames;
  frames.push_back(std::move(envelope));
  return DecodeFrames(std::move(frames));
}

Result<Message> DecodeRaw(Command command, std::string_view header) {
  return DecodeEnvelopeFrame(RawEnvelope(command, header));
}

// Encodes `header`, decodes it, and returns the decoded struct of the same type.
template <typename T>
T RoundTrip(const T& header) {
  Frames frames = Encode(header);
  EXPECT_EQ(frames.size(), 1u);
  EXPECT_EQ(static_cast<uint8_t>(frames[0].data<char>()[4]),
            static_cast<uint8_t>(CommandOf(header)));
  Result<Message> decoded = DecodeFrames(std::move(frames));
  if (!decoded.ok()) {
    ADD_FAILURE() << "decode failed: " << decoded.status().ToString();
    return T{};
  }
  EXPECT_EQ(decoded->command(), CommandOf(header));
  EXPECT_TRUE(decoded->payload.empty());
  const T* out = std::get_if<T>(&decoded->header);
  if (out == nullptr) {
    ADD_FAILURE() << "decoded " << CommandName(decoded->command());
    return T{};
  }
  return *out;
}

// The shape of every decode error: not OK, InvalidArgument, PMP code 400, and a
// reason that names the problem.
MATCHER_P(IsMalformed, reason,
          "is a PMP 400 error whose reason " +
              ::testing::DescribeMatcher<std::string>(reason)) {
  if (arg.ok()) {
    *result_listener << "which is OK";
    return false;
  }
  *result_listener << "which is \"" << arg.ToString() << "\"";
  return arg.IsInvalidArgument() && arg.pmp_code() == 400u &&
         ::testing::Matches(reason)(std::string(arg.message()));
}

// A valid header map for each command that has required keys, every key set.
RawMap FullHello() {
  return RawMap()
      .Set("connect_id", 7)
      .Set("role", "client")
      .Set("name", "viz-client")
      .Set("version", "1.0")
      .Set("software", "procmod 0.1.0")
      .Set("heartbeat_ms", 1000);
}
RawMap FullWelcome() {
  return RawMap()
      .Set("session", "5f1e0c3a9b2d4e67")
      .Set("role", "server")
      .Set("name", "viz-1")
      .Set("version", "1.0")
      .Set("heartbeat_ms", 1000)
      .Set("liveness", 3)
      .Set("multi", false);
}

// ---- round trips: every field set, and only the required ones ----------------

TEST(CodecRoundTrip, HelloEveryField) {
  const Hello h{.connect_id = 42,
                .role = "server",
                .name = "viz-1",
                .version = "1.0",
                .software = "procmod 0.1.0",
                .heartbeat_ms = 1500,
                .service = "render",
                .multi = true};
  EXPECT_EQ(Fields(RoundTrip(h)), Fields(h));
}

TEST(CodecRoundTrip, HelloRequiredOnly) {
  const Hello h{.role = "client", .version = "1.0"};
  EXPECT_EQ(Fields(RoundTrip(h)), Fields(h));
}

TEST(CodecRoundTrip, WelcomeEveryField) {
  const Welcome w{.session = "5f1e0c3a9b2d4e67",
                  .role = "server",
                  .name = "viz-1",
                  .version = "1.0",
                  .software = "procmod 0.1.0",
                  .heartbeat_ms = 1000,
                  .liveness = 3,
                  .multi = true,
                  .expires_in_ms = 3'600'000};
  EXPECT_EQ(Fields(RoundTrip(w)), Fields(w));
}

TEST(CodecRoundTrip, WelcomeRequiredOnly) {
  const Welcome w{
      .session = "s1", .version = "1.0", .heartbeat_ms = 250, .liveness = 5};
  EXPECT_EQ(Fields(RoundTrip(w)), Fields(w));
}

TEST(CodecRoundTrip, DenyEveryField) {
  const Deny d{.code = kCodeBusy, .reason = "server already has its client"};
  EXPECT_EQ(Fields(RoundTrip(d)), Fields(d));
}

TEST(CodecRoundTrip, DenyRequiredOnly) {
  const Deny d{.code = kCodeForbidden};
  EXPECT_EQ(Fields(RoundTrip(d)), Fields(d));
}

TEST(CodecRoundTrip, PingEveryField) {
  const Ping p{.t = std::numeric_limits<uint64_t>::max(), .echo = 0, .held = 123'456};
  EXPECT_EQ(Fields(RoundTrip(p)), Fields(p));
}

TEST(CodecRoundTrip, PingRequiredOnly) {
  const Ping p{.t = 1'700'000'000'000'000};
  EXPECT_EQ(Fields(RoundTrip(p)), Fields(p));
}

TEST(CodecRoundTrip, ByeEveryField) {
  const Bye b{.reason = "shutdown"};
  EXPECT_EQ(Fields(RoundTrip(b)), Fields(b));
}

TEST(CodecRoundTrip, ByeRequiredOnlyIsTheSmallestEnvelope) {
  EXPECT_EQ(Bytes(EncodeEnvelope(Bye{})), std::string("PMP1\x05\x80", 6));
  EXPECT_EQ(Fields(RoundTrip(Bye{})), Fields(Bye{}));
}

TEST(CodecRoundTrip, DataEveryField) {
  const Data d{.channel = "render", .peer = "5f1e0c3a9b2d4e67"};
  EXPECT_EQ(Fields(RoundTrip(d)), Fields(d));
}

TEST(CodecRoundTrip, DataRequiredOnly) {
  EXPECT_EQ(Bytes(EncodeEnvelope(Data{})), std::string("PMP1\x06\x80", 6));
  EXPECT_EQ(Fields(RoundTrip(Data{})), Fields(Data{}));
}

TEST(CodecRoundTrip, RequestEveryField) {
  msgpack::sbuffer args;
  msgpack::packer<msgpack::sbuffer> packer(args);
  packer.pack_map(3);
  packer.pack(std::string("path"));
  packer.pack(std::string("/data/can.ex2"));
  packer.pack(std::string("timestep"));
  packer.pack(17);
  packer.pack(std::string("arrays"));
  packer.pack(std::vector<std::string>{"EQPS", "DISPL"});
  const Request r{.id = std::numeric_limits<uint64_t>::max(),
                  .method = "open",
                  .args = std::string(args.data(), args.size()),
                  .peer = "5f1e0c3a9b2d4e67"};
  EXPECT_EQ(Fields(RoundTrip(r)), Fields(r));
}

TEST(CodecRoundTrip, RequestRequiredOnly) {
  const Request r{.id = 1, .method = "status"};
  EXPECT_EQ(Fields(RoundTrip(r)), Fields(r));
}

TEST(CodecRoundTrip, RequestWithEmptyArgsMap) {
  const Request r{.id = 2, .method = "status", .args = std::string("\x80", 1)};
  EXPECT_EQ(Fields(RoundTrip(r)), Fields(r));
}

TEST(CodecRoundTrip, ReplyEveryField) {
  const Reply r{.id = 9,
                .code = 500,
                .error = "no such method",
                .result = Pack(std::vector<double>{1.5, -2.25, 1e300}),
                .peer = "5f1e0c3a9b2d4e67"};
  EXPECT_EQ(Fields(RoundTrip(r)), Fields(r));
}

TEST(CodecRoundTrip, ReplyRequiredOnly) {
  const Reply r{.id = 9, .code = kCodeOk};
  EXPECT_EQ(Fields(RoundTrip(r)), Fields(r));
}

TEST(CodecRoundTrip, ReplyResultMayBeAnyMsgpackValue) {
  const std::string results[] = {
      Pack(msgpack::type::nil_t()),
      Pack(true),
      Pack(-5),
      Pack(std::string(300, 'x')),  // str16
      Pack(std::map<std::string, std::vector<int>>{{"a", {1, 2}}, {"b", {}}}),
  };
  for (const std::string& result : results) {
    const Reply r{.id = 1, .code = 0, .result = result};
    EXPECT_EQ(Fields(RoundTrip(r)), Fields(r));
  }
}

TEST(CodecRoundTrip, ErrorEveryField) {
  const Error e{.code = kCodeUnknownSession, .reason = "no session: HELLO first"};
  EXPECT_EQ(Fields(RoundTrip(e)), Fields(e));
}

TEST(CodecRoundTrip, ErrorRequiredOnly) {
  const Error e{.code = std::numeric_limits<uint32_t>::max()};
  EXPECT_EQ(Fields(RoundTrip(e)), Fields(e));
}

TEST(CodecRoundTrip, JoinedEveryField) {
  const Joined j{.session = "5f1e0c3a9b2d4e67", .name = "viz-client", .role = "client"};
  EXPECT_EQ(Fields(RoundTrip(j)), Fields(j));
}

TEST(CodecRoundTrip, JoinedRequiredOnly) {
  const Joined j{.session = "5f1e0c3a9b2d4e67"};
  EXPECT_EQ(Fields(RoundTrip(j)), Fields(j));
}

TEST(CodecRoundTrip, LeftEveryField) {
  const Left l{.session = "5f1e0c3a9b2d4e67", .reason = "expired"};
  EXPECT_EQ(Fields(RoundTrip(l)), Fields(l));
}

TEST(CodecRoundTrip, LeftRequiredOnly) {
  const Left l{.session = "5f1e0c3a9b2d4e67"};
  EXPECT_EQ(Fields(RoundTrip(l)), Fields(l));
}

TEST(CodecRoundTrip, StringsKeepEmbeddedZerosAndUtf8) {
  const Bye b{.reason = std::string("a\0b \xc3\xa9t\xc3\xa9", 9)};
  EXPECT_EQ(Fields(RoundTrip(b)), Fields(b));
}

TEST(CodecRoundTrip, CommandNamesAndCommandOf) {
  EXPECT_EQ(CommandName(Command::kHello), "HELLO");
  EXPECT_EQ(CommandName(Command::kLeft), "LEFT");
  EXPECT_EQ(CommandName(Command::kResume), "RESUME");
  EXPECT_EQ(CommandName(Command::kResumed), "RESUMED");
  EXPECT_EQ(CommandName(static_cast<Command>(0x0E)), "UNKNOWN");
  EXPECT_EQ(CommandOf(Header(Reply{})), Command::kReply);
  EXPECT_EQ(CommandOf(Header(Left{})), Command::kLeft);
  EXPECT_EQ(CommandOf(Header(Resume{})), Command::kResume);
  EXPECT_EQ(CommandOf(Header(Resumed{})), Command::kResumed);
  EXPECT_EQ(static_cast<uint8_t>(Command::kResume), 0x0C);
  EXPECT_EQ(static_cast<uint8_t>(Command::kResumed), 0x0D);
}

TEST(CodecRoundTrip, DecoderIsReusableAndDecodedValuesOutliveTheFrames) {
  Decoder decoder;
  Frames first = Encode(Hello{.role = "client", .name = "a", .version = "1.0"});
  Result<Message> a = decoder.Decode(first);
  first.clear();
  Frames second = Encode(Reply{.id = 1, .code = 0, .result = Pack("r")});
  Result<Message> b = decoder.Decode(second);
  second.clear();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(std::get<Hello>(a->header).name, "a");
  EXPECT_EQ(std::get<Reply>(b->header).result, Pack("r"));
}

// ---- golden bytes -------------------------------------------------------------

// Computed by hand from the msgpack spec (not with the C++ encoder): keys in the
// order the encoder writes them, absent optional keys omitted.
constexpr unsigned char kGoldenHello[] = {
    0x50, 0x4d, 0x50, 0x31, 0x01,  // "PMP1", HELLO
    0x86,                          // map of 6
    0xaa, 0x63, 0x6f, 0x6e, 0x6e, 0x65, 0x63, 0x74, 0x5f, 0x69, 0x64,  // connect_id
    0x00,                                                              // 0
    0xa4, 0x72, 0x6f, 0x6c, 0x65,                                      // role
    0xa6, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,                          // "client"
    0xa4, 0x6e, 0x61, 0x6d, 0x65,                                      // name
    0xaa, 0x76, 0x69, 0x7a, 0x2d, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,  // "viz-client"
    0xa7, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e,                    // version
    0xa3, 0x31, 0x2e, 0x30,                                            // "1.0"
    0xa8, 0x73, 0x6f, 0x66, 0x74, 0x77, 0x61, 0x72, 0x65,              // software
    0xad, 0x70, 0x72, 0x6f, 0x63, 0x6d, 0x6f, 0x64, 0x20, 0x30, 0x2e, 0x31, 0x2e,
    0x30,  // "procmod 0.1.0"
    0xac, 0x68, 0x65, 0x61, 0x72, 0x74, 0x62, 0x65, 0x61, 0x74, 0x5f, 0x6d,
    0x73,              // heartbeat_ms
    0xcd, 0x03, 0xe8,  // uint16 1000
};

constexpr unsigned char kGoldenWelcome[] = {
    0x50, 0x4d, 0x50, 0x31, 0x02,                          // "PMP1", WELCOME
    0x88,                                                  // map of 8
    0xa7, 0x73, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e,        // session
    0xb0, 0x35, 0x66, 0x31, 0x65, 0x30, 0x63, 0x33, 0x61,  // "5f1e0c3a
    0x39, 0x62, 0x32, 0x64, 0x34, 0x65, 0x36, 0x37,        //  9b2d4e67"
    0xa4, 0x72, 0x6f, 0x6c, 0x65,                          // role
    0xa6, 0x73, 0x65, 0x72, 0x76, 0x65, 0x72,              // "server"
    0xa4, 0x6e, 0x61, 0x6d, 0x65,                          // name
    0xa5, 0x76, 0x69, 0x7a, 0x2d, 0x31,                    // "viz-1"
    0xa7, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e,        // version
    0xa3, 0x31, 0x2e, 0x30,                                // "1.0"
    0xa8, 0x73, 0x6f, 0x66, 0x74, 0x77, 0x61, 0x72, 0x65,  // software
    0xad, 0x70, 0x72, 0x6f, 0x63, 0x6d, 0x6f, 0x64, 0x20, 0x30, 0x2e, 0x31, 0x2e,
    0x30,  // "procmod 0.1.0"
    0xac, 0x68, 0x65, 0x61, 0x72, 0x74, 0x62, 0x65, 0x61, 0x74, 0x5f, 0x6d,
    0x73,                                                  // heartbeat_ms
    0xcd, 0x03, 0xe8,                                      // uint16 1000
    0xa8, 0x6c, 0x69, 0x76, 0x65, 0x6e, 0x65, 0x73, 0x73,  // liveness
    0x03,                                                  // 3
    0xa5, 0x6d, 0x75, 0x6c, 0x74, 0x69,                    // multi
    0xc2,                                                  // false
};

std::string Golden(const unsigned char* bytes, size_t size) {
  return std::string(reinterpret_cast<const char*>(bytes), size);
}

// Both directions: `header` encodes to exactly `golden`, and `golden` decodes to
// `header`, field by field.
template <typename T>
void ExpectGolden(const T& header, const std::string& golden) {
  EXPECT_EQ(Bytes(EncodeEnvelope(header)), golden);
  Result<Message> decoded = DecodeEnvelopeFrame(Frame(golden));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(Fields(std::get<T>(decoded->header)), Fields(header));
}

TEST(CodecGolden, HelloEnvelopeBytes) {
  const Hello h{.connect_id = 0,
                .role = "client",
                .name = "viz-client",
                .version = "1.0",
                .software = "procmod 0.1.0",
                .heartbeat_ms = 1000};
  ExpectGolden(h, Golden(kGoldenHello, sizeof kGoldenHello));
}

TEST(CodecGolden, WelcomeEnvelopeBytes) {
  const Welcome w{.session = "5f1e0c3a9b2d4e67",
                  .role = "server",
                  .name = "viz-1",
                  .version = "1.0",
                  .software = "procmod 0.1.0",
                  .heartbeat_ms = 1000,
                  .liveness = 3,
                  .multi = false};
  ExpectGolden(w, Golden(kGoldenWelcome, sizeof kGoldenWelcome));
}

// ---- payload frames -----------------------------------------------------------

Frames MakePayload(size_t count) {
  Frames payload;
  for (size_t i = 0; i < count; ++i) {
    // Frame 1 is empty: an empty payload frame is a frame like any other.
    payload.push_back(Frame(i == 1 ? std::string() : "frame-" + std::to_string(i)));
  }
  return payload;
}

void ExpectPayloadRoundTrips(const Header& header) {
  for (size_t count : {0u, 1u, 3u}) {
    SCOPED_TRACE(std::to_string(count) + " payload frames");
    Frames frames = Encode(header, MakePayload(count));
    ASSERT_EQ(frames.size(), 1 + count);
    Result<Message> decoded = DecodeFrames(std::move(frames));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->command(), CommandOf(header));
    ASSERT_EQ(decoded->payload.size(), count);
    Frames expected = MakePayload(count);
    for (size_t i = 0; i < count; ++i) {
      EXPECT_EQ(Bytes(decoded->payload[i]), Bytes(expected[i])) << "frame " << i;
    }
  }
}

TEST(CodecPayload, DataWithZeroOneAndThreeFrames) {
  ExpectPayloadRoundTrips(Data{.channel = "geometry"});
}

TEST(CodecPayload, RequestWithZeroOneAndThreeFrames) {
  ExpectPayloadRoundTrips(Request{.id = 3, .method = "upload"});
}

TEST(CodecPayload, ReplyWithZeroOneAndThreeFrames) {
  ExpectPayloadRoundTrips(Reply{.id = 3, .code = 0});
}

TEST(CodecPayload, LargeFrameIsMovedNotCopied) {
  constexpr size_t kSize = 64 * 1024;
  Frames payload;
  payload.emplace_back(kSize);
  std::memset(payload[0].data(), 0x5a, kSize);
  const void* const data = payload[0].data();

  Frames frames = Encode(Data{.channel = "bulk"}, std::move(payload));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].data(), data);

  Result<Message> decoded = DecodeFrames(std::move(frames));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->payload.size(), 1u);
  EXPECT_EQ(decoded->payload[0].data(), data);
  EXPECT_EQ(decoded->payload[0].size(), kSize);
}

TEST(CodecPayload, DecodeAfterRoutingIdFrame) {
  const std::string routing_id("\x00\x6b\x8b\x45\x67", 5);
  Frames frames;
  frames.push_back(Frame(routing_id));
  for (auto& frame : Encode(Request{.id = 5, .method = "render"}, MakePayload(1))) {
    frames.push_back(std::move(frame));
  }
  Decoder decoder;
  Result<Message> decoded = decoder.Decode(frames, /*first=*/1);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->command(), Command::kRequest);
  EXPECT_EQ(std::get<Request>(decoded->header).method, "render");
  ASSERT_EQ(decoded->payload.size(), 1u);
  EXPECT_EQ(Bytes(decoded->payload[0]), "frame-0");
  EXPECT_EQ(Bytes(frames[0]), routing_id);  // the routing id is left alone
}

TEST(CodecPayload, EncodeWithPayloadOnACommandThatTakesNoneThrows) {
  const Header headers[] = {Hello{}, Welcome{}, Deny{}, Ping{},   Bye{},
                            Error{}, Joined{},  Left{}, Resume{}, Resumed{}};
  for (const Header& header : headers) {
    SCOPED_TRACE(CommandName(CommandOf(header)));
    EXPECT_FALSE(TakesPayload(CommandOf(header)));
    EXPECT_THROW(Encode(header, MakePayload(1)), std::invalid_argument);
    EXPECT_NO_THROW(Encode(header, Frames{}));
  }
  EXPECT_TRUE(TakesPayload(Command::kData));
  EXPECT_TRUE(TakesPayload(Command::kRequest));
  EXPECT_TRUE(TakesPayload(Command::kReply));
}

// ---- forward compatibility ------------------------------------------------------

TEST(CodecForwardCompatible, UnknownHeaderKeysAreIgnored) {
  const std::string header = FullHello()
                                 .Set("future", std::vector<int>{1, 2})
                                 .Set("zzz", std::map<std::string, int>{{"a", 1}})
                                 .SetPacked("nil", Pack(msgpack::type::nil_t()))
                                 .Encode();
  Result<Message> decoded = DecodeRaw(Command::kHello, header);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const Hello& h = std::get<Hello>(decoded->header);
  EXPECT_EQ(h.connect_id, 7u);
  EXPECT_EQ(h.role, "client");
  EXPECT_EQ(h.version, "1.0");
}

TEST(CodecForwardCompatible, UnknownKeyBeforeKnownKeys) {
  const std::string header =
      RawMap().Set("future", std::vector<int>{1, 2}).Set("t", 99).Encode();
  Result<Message> decoded = DecodeRaw(Command::kPing, header);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(std::get<Ping>(decoded->header).t, 99u);
}

TEST(CodecForwardCompatible, SmallUintsInWiderEncodingsAreAccepted) {
  // 1000 as uint64 (0xcf) and 5 as int8 (0xd0): still non-negative integers.
  const std::string header =
      RawMap()
          .SetPacked("t", std::string("\xcf\0\0\0\0\0\0\x03\xe8", 9))
          .SetPacked("echo", std::string("\xd0\x05", 2))
          .Encode();
  Result<Message> decoded = DecodeRaw(Command::kPing, header);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(std::get<Ping>(decoded->header).t, 1000u);
  EXPECT_EQ(std::get<Ping>(decoded->header).echo, 5u);
}

// ---- malformed messages: each gets 400 and a reason that names the problem ------

TEST(PmpMalformed, EmptyFrameVectorHasNoEnvelope) {
  EXPECT_THAT(DecodeFrames(Frames{}).status(), IsMalformed(HasSubstr("no envelope")));
}

TEST(PmpMalformed, FirstAtOrPastTheEndHasNoEnvelope) {
  Frames frames;
  frames.push_back(Frame("\x00\x01"));
  EXPECT_THAT(DecodeFrames(std::move(frames), 1).status(),
              IsMalformed(HasSubstr("no envelope")));
  Frames more = Encode(Bye{});
  EXPECT_THAT(DecodeFrames(std::move(more), 5).status(),
              IsMalformed(HasSubstr("no envelope")));
}

TEST(PmpMalformed, EnvelopeShorterThanSixBytesGetsError400) {
  const std::string valid("PMP1\x05\x80", 6);
  ASSERT_TRUE(DecodeEnvelopeFrame(Frame(valid)).ok());
  for (size_t size = 0; size < 6; ++size) {
    SCOPED_TRACE(std::to_string(size) + " bytes");
    EXPECT_THAT(DecodeEnvelopeFrame(Frame(valid.substr(0, size))).status(),
                IsMalformed(AllOf(HasSubstr(std::to_string(size) + " bytes"),
                                  HasSubstr("at least 6"))));
  }
}

TEST(PmpMalformed, WrongSignature) {
  const std::string_view signatures[] = {"PMP2", "pmp1", "ZMP1",
                                         std::string_view("\0\0\0\0", 4)};
  for (std::string_view signature : signatures) {
    SCOPED_TRACE(signature);
    EXPECT_THAT(DecodeEnvelopeFrame(RawEnvelope(signature, 0x05, "\x80")).status(),
                IsMalformed(HasSubstr("signature")));
  }
}

TEST(PmpMalformed, UnknownCommand) {
  const std::pair<uint8_t, const char*> cases[] = {
      {0x00, "0x00"}, {0x0E, "0x0E"}, {0x7F, "0x7F"}, {0xFF, "0xFF"}};
  for (const auto& [command, hex] : cases) {
    SCOPED_TRACE(hex);
    EXPECT_THAT(DecodeEnvelopeFrame(RawEnvelope(kSignature, command, "\x80")).status(),
                IsMalformed(AllOf(HasSubstr("unknown command"), HasSubstr(hex))));
  }
}

TEST(PmpMalformed, HeaderNotAMap) {
  const std::string headers[] = {
      std::string("\x90", 1),              // empty array
      std::string("\x92\xa1k\x01", 4),     // array
      std::string("\x05", 1),              // positive int
      std::string("\xff", 1),              // negative int
      std::string("\xa3" "abc", 4),        // string
      std::string("\xc0", 1),              // nil
      std::string("\xc3", 1),              // true
      std::string("\xc4\x01\x80", 3),      // bin
      std::string("\xcb\0\0\0\0\0\0\0\0", 9),  // float64
  };
  for (const std::string& header : headers) {
    SCOPED_TRACE(::testing::PrintToString(header));
    EXPECT_THAT(DecodeRaw(Command::kBye, header).status(),
                IsMalformed(HasSubstr("not a msgpack map")));
  }
}

TEST(PmpMalformed, TruncatedHeader) {
  const std::string headers[] = {
      std::string("\x81", 1),                    // map of 1, nothing in it
      std::string("\x81\xa1t", 3),               // key without a value
      std::string("\x81\xa1t\xcd\x03", 5),       // uint16 missing a byte
      std::string("\x81\xa6reason\xa5" "bye", 11),  // string shorter than declared
      std::string("\x82\xa1t\x01", 4),           // second entry missing
      std::string("\xde\x00", 2),                // map16 size cut off
  };
  for (const std::string& header : headers) {
    SCOPED_TRACE(::testing::PrintToString(header));
    EXPECT_THAT(DecodeRaw(Command::kPing, header).status(),
                IsMalformed(HasSubstr("truncated")));
  }
}

TEST(PmpMalformed, BytesAfterTheMap) {
  EXPECT_THAT(DecodeRaw(Command::kBye, std::string("\x80\x00", 2)).status(),
              IsMalformed(HasSubstr("1 bytes follow the header map")));
  EXPECT_THAT(DecodeRaw(Command::kBye, std::string("\x80\x80\x80", 3)).status(),
              IsMalformed(HasSubstr("2 bytes follow the header map")));
  const std::string ping = RawMap().Set("t", 1).Encode() + "x";
  EXPECT_THAT(DecodeRaw(Command::kPing, ping).status(),
              IsMalformed(HasSubstr("follow the header map")));
}

TEST(PmpMalformed, BytesAfterTheMapOfACommandThatTakesNoPayload) {
  // Only DATA, REQUEST and REPLY may carry a payload inline.
  const Header headers[] = {Ping{.t = 1}, Bye{}, Error{.code = 400}, Joined{.session = "s"}};
  for (const Header& header : headers) {
    SCOPED_TRACE(std::string(CommandName(CommandOf(header))));
    const std::string envelope = Bytes(EncodeEnvelope(header)) + "payload";
    EXPECT_THAT(DecodeEnvelopeFrame(Frame(envelope)).status(),
                IsMalformed(HasSubstr("7 bytes follow the header map")));
  }
}

// ---- inline payloads (protocol 1.1) -----------------------------------------

TEST(ProtocolVersion, ParsesMajorMinor) {
  uint32_t major = 0, minor = 0;
  EXPECT_TRUE(ParseProtocolVersion("1.0", major, minor));
  EXPECT_EQ(major, 1u);
  EXPECT_TRUE(ParseProtocolVersion("12", major, minor));
  EXPECT_EQ(major, 12u);
  EXPECT_EQ(minor, 0u);
  EXPECT_FALSE(ParseProtocolVersion("", major, minor));
  EXPECT_FALSE(ParseProtocolVersion("1.", major, minor));
  EXPECT_FALSE(ParseProtocolVersion("1.0.0", major, minor));
  EXPECT_FALSE(ParseProtocolVersion("v1", major, minor));
}

TEST(InlinePayload, OnlyPeersOfVersionOnePointOneOrLaterGetIt) {
  EXPECT_EQ(PayloadFormFor(kProtocolVersion), PayloadForm::kInlineSmall);
  EXPECT_EQ(PayloadFormFor("1.1"), PayloadForm::kInlineSmall);
  EXPECT_EQ(PayloadFormFor("1.7"), PayloadForm::kInlineSmall);
  EXPECT_EQ(PayloadFormFor("1.0"), PayloadForm::kFrames);
  EXPECT_EQ(PayloadFormFor("1"), PayloadForm::kFrames);
  EXPECT_EQ(PayloadFormFor("2.3"), PayloadForm::kFrames);
  EXPECT_EQ(PayloadFormFor(""), PayloadForm::kFrames);
}

Frames OneFrame(size_t size) {
  Frames payload;
  payload.push_back(Frame(std::string(size, 'p')));
  return payload;
}

TEST(InlinePayload, SmallSingleFrameRidesInTheEnvelopeAndDecodesAsAFrame) {
  const Header headers[] = {Data{.channel = "c"}, Data{},
                            Request{.id = 7, .method = "ping", .args = Pack(std::map<int, int>{})},
                            Reply{.id = 7, .code = 0, .result = Pack(3), .peer = "s"}};
  for (const Header& header : headers) {
    for (size_t size : {size_t{1}, size_t{64}, kMaxInlinePayload}) {
      SCOPED_TRACE(std::string(CommandName(CommandOf(header))) + " " + std::to_string(size));
      Frames frames = Encode(header, OneFrame(size), PayloadForm::kInlineSmall);
      ASSERT_EQ(frames.size(), 1u);
      EXPECT_EQ(frames[0].size(), Bytes(EncodeEnvelope(header)).size() + size);
      Result<Message> decoded = DecodeFrames(std::move(frames));
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      ASSERT_EQ(decoded->header.index(), header.index());
      std::visit(
          [&](const auto& sent) {
            using T = std::decay_t<decltype(sent)>;
            EXPECT_EQ(Fields(std::get<T>(decoded->header)), Fields(sent));
          },
          header);
      ASSERT_EQ(decoded->payload.size(), 1u);
      EXPECT_EQ(Bytes(decoded->payload[0]), std::string(size, 'p'));
    }
  }
}

TEST(InlinePayload, TheSmallestDataOfProtocolSection16) {
  // docs/PROTOCOL.md §17.3: the same DATA, as a 1.0 peer and as a 1.1 peer gets it.
  const auto hi = [] {
    Frames payload;
    payload.push_back(Frame("hi"));
    return payload;
  };
  Frames framed = Encode(Data{}, hi(), PayloadForm::kFrames);
  ASSERT_EQ(framed.size(), 2u);
  EXPECT_EQ(Bytes(framed[0]), std::string("PMP1\x06\x80", 6));
  EXPECT_EQ(Bytes(framed[1]), "hi");
  Frames inlined = Encode(Data{}, hi(), PayloadForm::kInlineSmall);
  ASSERT_EQ(inlined.size(), 1u);
  EXPECT_EQ(Bytes(inlined[0]), std::string("PMP1\x06\x80hi", 8));
}

TEST(InlinePayload, EverythingElseKeepsFramesOfItsOwn) {
  const auto frames_of = [](Frames payload, PayloadForm form) {
    return Encode(Data{}, std::move(payload), form).size();
  };
  EXPECT_EQ(frames_of(OneFrame(kMaxInlinePayload + 1), PayloadForm::kInlineSmall), 2u);
  EXPECT_EQ(frames_of(OneFrame(0), PayloadForm::kInlineSmall), 2u);  // empty stays a frame
  EXPECT_EQ(frames_of(OneFrame(64), PayloadForm::kFrames), 2u);      // a 1.0 peer
  Frames two = OneFrame(8);
  two.push_back(Frame("second"));
  EXPECT_EQ(frames_of(std::move(two), PayloadForm::kInlineSmall), 3u);
  EXPECT_EQ(frames_of({}, PayloadForm::kInlineSmall), 1u);
}

TEST(InlinePayload, ComesBeforeFurtherPayloadFrames) {
  // Decoders take the general form: inline bytes, then frames, in that order.
  Frames frames;
  frames.push_back(Frame(Bytes(EncodeEnvelope(Data{.channel = "c"})) + "first"));
  frames.push_back(Frame("second"));
  Result<Message> decoded = DecodeFrames(std::move(frames));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->payload.size(), 2u);
  EXPECT_EQ(Bytes(decoded->payload[0]), "first");
  EXPECT_EQ(Bytes(decoded->payload[1]), "second");
}

TEST(InlinePayload, TheHeaderAloneRejectsTrailingBytes) {
  // DecodeEnvelope has nowhere to put a payload: trailing bytes stay malformed.
  Decoder decoder;
  EXPECT_THAT(decoder.DecodeEnvelope(Frame(Bytes(EncodeEnvelope(Data{})) + "xy")).status(),
              IsMalformed(HasSubstr("2 bytes follow the header map")));
}

// ---- relaying: the header goes on as it came, but for `peer` ------------------

// Decodes `frames` (the way a relay does) and relays them with `peer` under `form`.
Frames Relay(Frames frames, std::string_view peer, PayloadForm form) {
  Decoder decoder;
  Message message;
  EXPECT_TRUE(decoder.DecodeInto(frames, 0, &message).ok());
  std::optional<Frames> relayed = EncodeRelayed(frames[0], peer, message.payload, form);
  EXPECT_TRUE(relayed.has_value());
  return relayed ? std::move(*relayed) : Frames();
}

TEST(EncodeRelayed, KeepsEveryOtherEntryByteForByteAndSetsPeer) {
  // A newer sender's key, a uint in a wider encoding than ours and `args` as sent:
  // a relay that decoded and encoded again would lose or rewrite all three.
  const std::string wide_id("\xcf\0\0\0\0\0\0\0\x4d", 9);
  const std::string args = Pack(std::map<std::string, double>{{"q", 0.5}});
  const std::string future = Pack(std::vector<int>{1, 2, 3});
  RawMap sent = RawMap()
                    .SetPacked("id", wide_id)
                    .Set("method", std::string("render"))
                    .SetPacked("args", args)
                    .SetPacked("x-future", future)
                    .Set("peer", std::string("spoofed"));
  Frames frames;
  frames.push_back(RawEnvelope(Command::kRequest, sent.Encode()));
  Frames relayed = Relay(std::move(frames), "c1", PayloadForm::kFrames);
  ASSERT_EQ(relayed.size(), 1u);
  const std::string expected = RawMap()
                                   .SetPacked("id", wide_id)
                                   .Set("method", std::string("render"))
                                   .SetPacked("args", args)
                                   .SetPacked("x-future", future)
                                   .Set("peer", std::string("c1"))
                                   .Encode();
  EXPECT_EQ(Bytes(relayed[0]), Bytes(RawEnvelope(Command::kRequest, expected)));
}

// One value packed by `pack` (a test names the exact msgpack encoding it wants).
template <typename F>
std::string Packed(F pack) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  pack(packer, buffer);
  return std::string(buffer.data(), buffer.size());
}

TEST(EncodeRelayed, CarriesEveryMsgpackTypeOverAsItCame) {
  using Packer = msgpack::packer<msgpack::sbuffer>;
  const std::string long_text(300, 's');  // str 16
  const std::vector<std::string> values = {
      Packed([](Packer& p, auto&) { p.pack_nil(); }),
      Packed([](Packer& p, auto&) { p.pack_false(); }),
      Packed([](Packer& p, auto&) { p.pack_fix_int8(-5); }),
      Packed([](Packer& p, auto&) { p.pack_fix_int64(-1); }),
      Packed([](Packer& p, auto&) { p.pack_fix_uint16(7); }),
      Packed([](Packer& p, auto&) { p.pack_float(0.5f); }),
      Packed([](Packer& p, auto&) { p.pack_double(-2.25); }),
      Packed([&](Packer& p, auto&) { p.pack(long_text); }),
      Packed([](Packer& p, auto&) {
        p.pack_bin(3);
        p.pack_bin_body("\0\1\2", 3);
      }),
      Packed([](Packer& p, auto&) {
        p.pack_ext(4, 9);  // fixext 4
        p.pack_ext_body("abcd", 4);
      }),
      Packed([](Packer& p, auto&) {
        p.pack_ext(3, -1);  // ext 8
        p.pack_ext_body("xyz", 3);
      }),
      Packed([](Packer& p, auto&) {  // array 16 of maps of arrays
        p.pack_array(17);
        for (int i = 0; i < 17; ++i) {
          p.pack_map(1);
          p.pack(i);
          p.pack(std::vector<int>{i, -i});
        }
      }),
      Packed([](Packer& p, auto& buffer) {  // map 32 holding an empty map
        buffer.write("\xdf\0\0\0\x01", 5);
        p.pack(std::string("inner"));
        p.pack_map(0);
      }),
  };
  RawMap sent = RawMap().Set("channel", std::string("c"));
  for (size_t i = 0; i < values.size(); ++i) sent.SetPacked("x" + std::to_string(i), values[i]);
  Frames frames;
  frames.push_back(RawEnvelope(Command::kData, sent.Encode()));
  Frames relayed = Relay(std::move(frames), "c1", PayloadForm::kFrames);
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(Bytes(relayed[0]),
            Bytes(RawEnvelope(Command::kData, sent.Set("peer", std::string("c1")).Encode())));
}

TEST(EncodeRelayed, EmptyPeerTakesTheKeyOutAndEveryCopyOfItGoes) {
  RawMap sent = RawMap().Set("id", 5).Set("code", 0).Set("peer", std::string("c1"));
  std::string header = sent.Encode();
  // A second `peer` (against the rules, but decodable): neither survives.
  header[0] = static_cast<char>(0x84);
  header += Pack(std::string("peer")) + Pack(std::string("c2"));
  Frames frames;
  frames.push_back(RawEnvelope(Command::kReply, header));
  Frames relayed = Relay(std::move(frames), "", PayloadForm::kFrames);
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(Bytes(relayed[0]),
            Bytes(RawEnvelope(Command::kReply, RawMap().Set("id", 5).Set("code", 0).Encode())));
}

TEST(EncodeRelayed, ReadsEveryMapSizeEncodingAndTheEmptyMap) {
  // The empty DATA header, then a map 16 and a map 32 holding one key each.
  for (const std::string& header :
       {std::string("\x80", 1),
        std::string("\xde\0\x01", 3) + Pack(std::string("channel")) + Pack(std::string("c")),
        std::string("\xdf\0\0\0\x01", 5) + Pack(std::string("channel")) + Pack(std::string("c"))}) {
    SCOPED_TRACE(header.size());
    Frames frames;
    frames.push_back(RawEnvelope(Command::kData, header));
    Frames relayed = Relay(std::move(frames), "c9", PayloadForm::kFrames);
    ASSERT_EQ(relayed.size(), 1u);
    Result<Message> decoded = DecodeFrames(std::move(relayed));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(std::get<Data>(decoded->header).peer, "c9");
    EXPECT_EQ(std::get<Data>(decoded->header).channel, header.size() > 1 ? "c" : "");
  }
}

TEST(EncodeRelayed, LaysThePayloadOutForTheLegItGoesOn) {
  // Inline in, frames out (a 1.0 leg), and frames in, inline out (a 1.1 leg).
  Frames inlined = Encode(Data{.channel = "c"}, OneFrame(64), PayloadForm::kInlineSmall);
  ASSERT_EQ(inlined.size(), 1u);
  Frames to_old = Relay(std::move(inlined), "s", PayloadForm::kFrames);
  ASSERT_EQ(to_old.size(), 2u);
  EXPECT_EQ(Bytes(to_old[1]), std::string(64, 'p'));
  Frames to_new = Relay(std::move(to_old), "", PayloadForm::kInlineSmall);
  ASSERT_EQ(to_new.size(), 1u);
  EXPECT_EQ(Bytes(to_new[0]),
            Bytes(Encode(Data{.channel = "c"}, OneFrame(64), PayloadForm::kInlineSmall)[0]));
  // Several frames stay frames, in order, whatever the leg reads.
  Frames two = OneFrame(8);
  two.push_back(Frame("second"));
  Frames many = Relay(Encode(Data{}, std::move(two)), "s", PayloadForm::kInlineSmall);
  ASSERT_EQ(many.size(), 3u);
  EXPECT_EQ(Bytes(many[2]), "second");
}

TEST(EncodeRelayed, OnlyForCommandsThatCarryPayloads) {
  Frames none;
  EXPECT_FALSE(EncodeRelayed(EncodeEnvelope(Ping{.t = 1}), "s", none, PayloadForm::kFrames));
  EXPECT_FALSE(EncodeRelayed(Frame("PMP1"), "s", none, PayloadForm::kFrames));
}

TEST(EncodeRelayed, BytesThatAreNotAWholeHeaderMapGetNothing) {
  // Not reached after a decode, but never read past the frame or loop on a count.
  const std::string key = Pack(std::string("channel"));
  for (const std::string& header :
       {std::string("\x82", 1) + key + Pack(1),                 // one entry of two
        std::string("\x81\xa7", 2) + "chan",                    // key cut short
        std::string("\x81", 1) + Pack(1) + Pack(1),             // key not a string
        std::string("\x81", 1) + key + "\xc1",                  // never-used type byte
        std::string("\x81", 1) + key + "\xdb\xff\xff\xff\xff",  // str 32 past the end
        std::string("\x81", 1) + key + "\xdd\xff\xff\xff\xff",  // 4 G elements, none there
        std::string("\x92\x01\x02", 3)}) {                      // an array, not a map
    Frames none;
    EXPECT_FALSE(
        EncodeRelayed(RawEnvelope(Command::kData, header), "s", none, PayloadForm::kFrames))
        << header.size();
  }
}

TEST(PmpMalformed, KeyThatIsNotAString) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(2);
  packer.pack(std::string("t"));
  packer.pack(1);
  packer.pack(7);  // an integer key
  packer.pack(std::string("x"));
  EXPECT_THAT(DecodeRaw(Command::kPing, std::string(buffer.data(), buffer.size()))
                  .status(),
              IsMalformed(HasSubstr("key that is not a string")));
  // A bin key with the bytes of a known key is not a string either.
  EXPECT_THAT(DecodeRaw(Command::kPing, std::string("\x81\xc4\x01t\x01", 5)).status(),
              IsMalformed(HasSubstr("key that is not a string")));
}

TEST(PmpMalformed, StringWhereUintExpected) {
  EXPECT_THAT(DecodeRaw(Command::kHello, FullHello().Set("connect_id", "7").Encode())
                  .status(),
              IsMalformed(HasSubstr("'connect_id' must be an unsigned integer")));
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, FullWelcome().Set("heartbeat_ms", "1000").Encode())
          .status(),
      IsMalformed(HasSubstr("'heartbeat_ms' must be an unsigned integer")));
}

TEST(PmpMalformed, NegativeIntWhereUintExpected) {
  EXPECT_THAT(DecodeRaw(Command::kPing, RawMap().Set("t", -1).Encode()).status(),
              IsMalformed(HasSubstr("'t' must be an unsigned integer")));
  EXPECT_THAT(
      DecodeRaw(Command::kPing, RawMap().Set("t", 1).Set("echo", -300).Encode())
          .status(),
      IsMalformed(HasSubstr("'echo' must be an unsigned integer")));
  EXPECT_THAT(DecodeRaw(Command::kRequest,
                        RawMap().Set("id", -1).Set("method", "m").Encode())
                  .status(),
              IsMalformed(HasSubstr("'id' must be an unsigned integer")));
}

TEST(PmpMalformed, FloatWhereUintExpected) {
  // Written by hand: msgpack-cxx packs a whole double such as 1.0 as an integer.
  const std::string one_float64("\xcb\x3f\xf0\0\0\0\0\0\0", 9);
  EXPECT_THAT(
      DecodeRaw(Command::kPing, RawMap().SetPacked("t", one_float64).Encode()).status(),
      IsMalformed(HasSubstr("'t' must be an unsigned integer")));
  EXPECT_THAT(DecodeRaw(Command::kPing, RawMap().Set("t", 1.5).Encode()).status(),
              IsMalformed(HasSubstr("'t' must be an unsigned integer")));
}

TEST(PmpMalformed, UintWhereStringExpected) {
  EXPECT_THAT(DecodeRaw(Command::kHello, FullHello().Set("role", 5).Encode()).status(),
              IsMalformed(HasSubstr("'role' must be a string")));
  EXPECT_THAT(DecodeRaw(Command::kBye, RawMap().Set("reason", 1).Encode()).status(),
              IsMalformed(HasSubstr("'reason' must be a string")));
  // bin is not str, even with printable bytes.
  EXPECT_THAT(
      DecodeRaw(Command::kData, RawMap().SetPacked("channel", "\xc4\x01x").Encode())
          .status(),
      IsMalformed(HasSubstr("'channel' must be a string")));
}

TEST(PmpMalformed, IntWhereBoolExpected) {
  EXPECT_THAT(DecodeRaw(Command::kHello, FullHello().Set("multi", 1).Encode()).status(),
              IsMalformed(HasSubstr("'multi' must be a boolean")));
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, FullWelcome().Set("multi", 0).Encode()).status(),
      IsMalformed(HasSubstr("'multi' must be a boolean")));
}

TEST(PmpMalformed, RequestArgsNotAMap) {
  const RawMap request = RawMap().Set("id", 1).Set("method", "open");
  const std::string args[] = {Pack(std::vector<int>{1, 2}), Pack("path"), Pack(3),
                              Pack(msgpack::type::nil_t())};
  for (const std::string& packed : args) {
    SCOPED_TRACE(::testing::PrintToString(packed));
    EXPECT_THAT(
        DecodeRaw(Command::kRequest, RawMap(request).SetPacked("args", packed).Encode())
            .status(),
        IsMalformed(HasSubstr("'args' must be a map")));
  }
}

TEST(PmpMalformed, CodeOfTwoToTheThirtyTwoOrMore) {
  const uint64_t too_big[] = {uint64_t{1} << 32, std::numeric_limits<uint64_t>::max()};
  for (uint64_t code : too_big) {
    SCOPED_TRACE(code);
    EXPECT_THAT(DecodeRaw(Command::kDeny, RawMap().Set("code", code).Encode()).status(),
                IsMalformed(HasSubstr("'code' must be an unsigned integer below 2^32")));
    EXPECT_THAT(
        DecodeRaw(Command::kError, RawMap().Set("code", code).Encode()).status(),
        IsMalformed(HasSubstr("'code' must be an unsigned integer below 2^32")));
    EXPECT_THAT(
        DecodeRaw(Command::kReply, RawMap().Set("id", 1).Set("code", code).Encode())
            .status(),
        IsMalformed(HasSubstr("'code' must be an unsigned integer below 2^32")));
  }
  // 2^32 - 1 is the largest code.
  const uint32_t largest = std::numeric_limits<uint32_t>::max();
  Result<Message> max =
      DecodeRaw(Command::kDeny, RawMap().Set("code", largest).Encode());
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(std::get<Deny>(max->header).code, largest);
}

// For a valid full header of `command`, dropping any one of `required` is a 400
// that names the key; the full header itself decodes.
void ExpectEachRequiredKeyIsRequired(Command command, const RawMap& full,
                                     std::initializer_list<std::string_view> required) {
  Result<Message> ok = DecodeRaw(command, full.Encode());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  for (std::string_view key : required) {
    SCOPED_TRACE(key);
    EXPECT_THAT(DecodeRaw(command, RawMap(full).Erase(key).Encode()).status(),
                IsMalformed(HasSubstr("required header key '" + std::string(key) +
                                      "' is missing")));
  }
}

TEST(PmpMalformed, HelloRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(Command::kHello, FullHello(), {"role", "version"});
}

TEST(PmpMalformed, WelcomeRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(Command::kWelcome, FullWelcome(),
                                  {"session", "version", "heartbeat_ms", "liveness"});
}

TEST(PmpMalformed, DenyRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(
      Command::kDeny, RawMap().Set("code", 409).Set("reason", "busy"), {"code"});
}

TEST(PmpMalformed, PingRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(
      Command::kPing, RawMap().Set("t", 1).Set("echo", 2).Set("held", 3), {"t"});
}

TEST(PmpMalformed, RequestRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(Command::kRequest,
                                  RawMap()
                                      .Set("id", 1)
                                      .Set("method", "open")
                                      .Set("args", std::map<std::string, int>{{"a", 1}})
                                      .Set("peer", "p"),
                                  {"id", "method"});
}

TEST(PmpMalformed, ReplyRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(Command::kReply,
                                  RawMap()
                                      .Set("id", 1)
                                      .Set("code", 500)
                                      .Set("error", "boom")
                                      .Set("result", 1)
                                      .Set("peer", "p"),
                                  {"id", "code"});
}

TEST(PmpMalformed, ErrorRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(
      Command::kError, RawMap().Set("code", 404).Set("reason", "no session"), {"code"});
}

TEST(PmpMalformed, JoinedRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(
      Command::kJoined,
      RawMap().Set("session", "s").Set("name", "n").Set("role", "server"), {"session"});
}

TEST(PmpMalformed, LeftRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(
      Command::kLeft, RawMap().Set("session", "s").Set("reason", "bye"), {"session"});
}

TEST(PmpMalformed, ByeAndDataHaveNoRequiredKeys) {
  EXPECT_TRUE(DecodeRaw(Command::kBye, "\x80").ok());
  EXPECT_TRUE(DecodeRaw(Command::kData, "\x80").ok());
}

TEST(PmpMalformed, PayloadOnACommandThatTakesNone) {
  const Header headers[] = {
      Hello{.role = "client", .version = "1.0"},
      Welcome{.session = "s", .version = "1.0", .heartbeat_ms = 1000, .liveness = 3},
      Deny{.code = 409},
      Ping{.t = 1},
      Bye{},
      Error{.code = 400},
      Joined{.session = "s"},
      Left{.session = "s"},
      Resume{.session = "s", .token = "t", .received = 1},
      Resumed{.session = "s", .received = 1},
  };
  for (const Header& header : headers) {
    const std::string name(CommandName(CommandOf(header)));
    SCOPED_TRACE(name);
    Frames frames;
    frames.push_back(EncodeEnvelope(header));
    frames.push_back(Frame("payload"));
    frames.push_back(Frame("more"));
    EXPECT_THAT(DecodeFrames(std::move(frames)).status(),
                IsMalformed(HasSubstr(name + " takes no payload frames, got 2")));
  }
}

TEST(PmpMalformed, HugeDeclaredSizesFailFastWithoutAllocating) {
  const std::string headers[] = {
      std::string("\xdf\xff\xff\xff\xff", 5),          // map32 of 4 billion entries
      std::string("\xde\xff\xff", 3),                  // map16 of 65535 entries
      std::string("\xdd\xff\xff\xff\xff", 5),          // array32 of 4 billion
      std::string("\x81\xa1t\xdd\xff\xff\xff\xff", 8),  // ... as a value
      std::string("\x81\xa1t\xdf\xff\xff\xff\xff", 8),  // map32 as a value
      std::string("\x81\xdb\xff\xff\xff\xff", 6),      // str32 key of 4 GiB
      std::string("\x81\xa1t\xc6\xff\xff\xff\xff", 8),  // bin32 of 4 GiB
      std::string("\x81\xa1t\xc9\xff\xff\xff\xff\x01", 9),  // ext32 of 4 GiB
  };
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& header : headers) {
    SCOPED_TRACE(::testing::PrintToString(header));
    EXPECT_THAT(DecodeRaw(Command::kPing, header).status(),
                IsMalformed(::testing::AnyOf(HasSubstr("truncated"),
                                             HasSubstr("size overflow"))));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

// The peak virtual memory of this process in KiB (Linux), or -1 when unknown.
long PeakVirtualMemoryKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmPeak:", 0) == 0) return std::stol(line.substr(7));
  }
  return -1;
}

// 29 nested containers in a REPLY's result, each declaring as many elements as the
// header has bytes, then `filler` nils: a valid-looking start of a 1 MiB header.
std::string NestedHugeDeclarations(char container, size_t filler) {
  const uint32_t n = static_cast<uint32_t>(filler);
  std::string result;
  for (int i = 0; i < 29; ++i) {
    result += container;  // array32 (0xdd) or map32 (0xdf)
    for (int shift : {24, 16, 8, 0}) result += static_cast<char>(n >> shift);
    if (container == '\xdf') result += '\xa0';  // an empty key
  }
  result.append(filler, '\xc0');
  return RawMap().Set("id", 1).Set("code", 0).SetPacked("result", result).Encode();
}

TEST(PmpMalformed, NestedHugeDeclarationsFailFastWithoutAllocating) {
  // Each container alone is within the unpacker's per-container limit; together they
  // would have it reserve 29 x 1 Mi x 32 bytes before it found the header truncated.
  for (char container : {'\xdd', '\xdf'}) {
    SCOPED_TRACE(container == '\xdd' ? "arrays" : "maps");
    const std::string header = NestedHugeDeclarations(container, 1 << 20);
    const long peak_before = PeakVirtualMemoryKib();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THAT(DecodeRaw(Command::kReply, header).status(),
                IsMalformed(HasSubstr("declares more elements than its")));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    if (peak_before > 0) {
      EXPECT_LT(PeakVirtualMemoryKib() - peak_before, 256 * 1024) << "KiB";
    }
  }
}

TEST(CodecRoundTrip, LargeHeadersAreNotMistakenForHostileOnes) {
  std::vector<uint32_t> numbers(20'000);
  for (size_t i = 0; i < numbers.size(); ++i) numbers[i] = static_cast<uint32_t>(i * 7);
  std::map<std::string, std::vector<std::string>> names;
  for (int i = 0; i < 300; ++i) names["k" + std::to_string(i)] = {"a", "", "b"};
  const Reply reply{.id = 1, .code = 0, .result = Pack(numbers)};
  EXPECT_EQ(Fields(RoundTrip(reply)), Fields(reply));
  const Request request{.id = 2, .method = "m", .args = Pack(names)};
  EXPECT_EQ(Fields(RoundTrip(request)), Fields(request));
  std::string nested(30, '\x91');  // 30 levels in a 2 KiB header still decode
  nested += Pack(std::string(2000, 'x'));
  const Reply deep{.id = 3, .code = 0, .result = nested};
  EXPECT_EQ(Fields(RoundTrip(deep)), Fields(deep));
}

TEST(PmpMalformed, DeepNestingInReplyResult) {
  auto reply_with_depth = [](size_t depth) {
    std::string result(depth, '\x91');  // `depth` nested one-element arrays
    result.push_back('\xc0');
    return RawMap().Set("id", 1).Set("code", 0).SetPacked("result", result).Encode();
  };
  Result<Message> shallow = DecodeRaw(Command::kReply, reply_with_depth(20));
  ASSERT_TRUE(shallow.ok()) << shallow.status().ToString();

  EXPECT_THAT(DecodeRaw(Command::kReply, reply_with_depth(100)).status(),
              IsMalformed(HasSubstr("depth")));
  // Deep maps, too, and deep enough to overflow a recursive parser's stack.
  std::string maps;
  for (int i = 0; i < 100'000; ++i) maps += "\x81\xa1k";
  maps += '\xc0';
  EXPECT_THAT(
      DecodeRaw(Command::kReply,
                RawMap().Set("id", 1).Set("code", 0).SetPacked("result", maps).Encode())
          .status(),
      IsMalformed(HasSubstr("depth")));
}

// ---- protocol 1.2: session resume ------------------------------------------------

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";  // 32 hex digits

TEST(CodecResume, HelloResumeRoundTripsAndIsWrittenOnlyWhenTrue) {
  const Hello h{.role = "client", .version = "1.2", .multi = true, .resume = true};
  EXPECT_EQ(Fields(RoundTrip(h)), Fields(h));
  const std::string with = Bytes(EncodeEnvelope(h));
  // The last entry, after `multi`.
  EXPECT_TRUE(
      with.ends_with(Pack(std::string("multi")) + "\xc3" + Pack(std::string("resume")) + "\xc3"));
  const Hello without{.role = "client", .version = "1.2"};
  EXPECT_THAT(Bytes(EncodeEnvelope(without)), ::testing::Not(HasSubstr("resume")));
  EXPECT_FALSE(RoundTrip(without).resume);
}

TEST(CodecResume, HelloOfOnePointOneWithoutResumeDecodesAsNotResumable) {
  Result<Message> decoded = DecodeRaw(Command::kHello, FullHello().Set("version", "1.1").Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_FALSE(std::get<Hello>(decoded->header).resume);
  // false written out is the same as absent.
  Result<Message> no = DecodeRaw(Command::kHello, FullHello().Set("resume", false).Encode());
  ASSERT_TRUE(no.ok()) << no.status().ToString();
  EXPECT_FALSE(std::get<Hello>(no->header).resume);
}

TEST(CodecResume, WelcomeResumeKeysRoundTripAfterExpiresIn) {
  const Welcome w{.session = "5f1e0c3a9b2d4e67",
                  .version = "1.2",
                  .heartbeat_ms = 1000,
                  .liveness = 3,
                  .expires_in_ms = 60'000,
                  .resume_token = std::string(kToken),
                  .resume_grace_ms = 60'000};
  EXPECT_EQ(Fields(RoundTrip(w)), Fields(w));
  const std::string tail = Pack(std::string("expires_in_ms")) + Pack(60'000) +
                           Pack(std::string("resume_token")) + Pack(std::string(kToken)) +
                           Pack(std::string("resume_grace_ms")) + Pack(60'000);
  EXPECT_TRUE(Bytes(EncodeEnvelope(w)).ends_with(tail));
}

TEST(CodecResume, WelcomeWithoutTokenWritesNeitherKey) {
  // A grace without a token is not written either: the two go together.
  const Welcome w{.session = "s",
                  .version = "1.2",
                  .heartbeat_ms = 1000,
                  .liveness = 3,
                  .resume_grace_ms = 5000};
  const std::string bytes = Bytes(EncodeEnvelope(w));
  EXPECT_THAT(bytes, ::testing::Not(HasSubstr("resume")));
  const Welcome out = RoundTrip(w);
  EXPECT_EQ(out.resume_token, "");
  EXPECT_EQ(out.resume_grace_ms, 0u);
  // A 1.1 WELCOME (no resume keys) decodes as a session that does not resume.
  Result<Message> old = DecodeRaw(Command::kWelcome, FullWelcome().Set("version", "1.1").Encode());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(std::get<Welcome>(old->header).resume_token, "");
  EXPECT_EQ(std::get<Welcome>(old->header).resume_grace_ms, 0u);
}

TEST(CodecResume, WelcomeResumeKeysAreRequiredTogether) {
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, FullWelcome().Set("resume_token", kToken).Encode()).status(),
      IsMalformed(HasSubstr("required header key 'resume_grace_ms' is missing")));
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, FullWelcome().Set("resume_grace_ms", 1000).Encode()).status(),
      IsMalformed(HasSubstr("required header key 'resume_token' is missing")));
  Result<Message> both =
      DecodeRaw(Command::kWelcome,
                FullWelcome().Set("resume_token", kToken).Set("resume_grace_ms", 1).Encode());
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(std::get<Welcome>(both->header).resume_token, kToken);
  EXPECT_EQ(std::get<Welcome>(both->header).resume_grace_ms, 1u);
}

TEST(CodecResume, WelcomeResumeValuesAreChecked) {
  const RawMap resumable = FullWelcome().Set("resume_token", kToken).Set("resume_grace_ms", 60'000);
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, RawMap(resumable).Set("resume_grace_ms", 0).Encode()).status(),
      IsMalformed(HasSubstr("'resume_grace_ms' must be at least 1")));
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, RawMap(resumable).Set("resume_token", "").Encode()).status(),
      IsMalformed(HasSubstr("'resume_token' must not be empty")));
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, RawMap(resumable).Set("resume_token", 7).Encode()).status(),
      IsMalformed(HasSubstr("'resume_token' must be a string")));
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, RawMap(resumable).Set("resume_grace_ms", "60000").Encode())
          .status(),
      IsMalformed(HasSubstr("'resume_grace_ms' must be an unsigned integer")));
  EXPECT_THAT(
      DecodeRaw(Command::kWelcome, RawMap(resumable).Set("resume_grace_ms", -1).Encode()).status(),
      IsMalformed(HasSubstr("'resume_grace_ms' must be an unsigned integer")));
}

TEST(CodecResume, PingAckSentAndResendRoundTrip) {
  const Ping every{.t = 5, .echo = 4, .held = 3, .ack = 1'000, .sent = 2'000, .resend = true};
  EXPECT_EQ(Fields(RoundTrip(every)), Fields(every));
  // After `held`, in table order; 0 is a value, not absence, for ack and sent.
  const std::string expected = RawMap()
                                   .Set("t", 5)
                                   .Set("echo", 4)
                                   .Set("held", 3)
                                   .Set("ack", 0)
                                   .Set("sent", 0)
                                   .Set("resend", true)
                                   .Encode();
  const Ping zeros{.t = 5, .echo = 4, .held = 3, .ack = 0, .sent = 0, .resend = true};
  EXPECT_EQ(Bytes(EncodeEnvelope(zeros)), Bytes(RawEnvelope(Command::kPing, expected)));
  EXPECT_EQ(Fields(RoundTrip(zeros)), Fields(zeros));
  const Ping heartbeat{.t = 9, .ack = 17, .sent = 17};
  EXPECT_EQ(Fields(RoundTrip(heartbeat)), Fields(heartbeat));
}

TEST(CodecResume, PingWithoutTheNewKeysLeavesThemAbsent) {
  const Ping p = RoundTrip(Ping{.t = 1, .echo = 2});
  EXPECT_FALSE(p.ack.has_value());
  EXPECT_FALSE(p.sent.has_value());
  EXPECT_FALSE(p.resend);
  const std::string bytes = Bytes(EncodeEnvelope(Ping{.t = 1, .resend = false}));
  EXPECT_EQ(bytes, Bytes(RawEnvelope(Command::kPing, RawMap().Set("t", 1).Encode())));
}

TEST(CodecResume, PingNewKeysOfTheWrongType) {
  const RawMap ping = RawMap().Set("t", 1);
  EXPECT_THAT(DecodeRaw(Command::kPing, RawMap(ping).Set("ack", -1).Encode()).status(),
              IsMalformed(HasSubstr("'ack' must be an unsigned integer")));
  EXPECT_THAT(DecodeRaw(Command::kPing, RawMap(ping).Set("sent", "3").Encode()).status(),
              IsMalformed(HasSubstr("'sent' must be an unsigned integer")));
  EXPECT_THAT(DecodeRaw(Command::kPing, RawMap(ping).Set("resend", 1).Encode()).status(),
              IsMalformed(HasSubstr("'resend' must be a boolean")));
}

TEST(CodecResume, SeqAndAckRoundTripOnDataRequestAndReply) {
  const uint64_t big = std::numeric_limits<uint64_t>::max();
  const Data data{.channel = "geometry", .peer = "p", .seq = 1, .ack = big};
  EXPECT_EQ(Fields(RoundTrip(data)), Fields(data));
  const Request request{.id = 3,
                        .method = "open",
                        .args = Pack(std::map<int, int>{}),
                        .peer = "p",
                        .seq = 2,
                        .ack = 0};
  EXPECT_EQ(Fields(RoundTrip(request)), Fields(request));
  const Reply reply{.id = 3, .code = 0, .result = Pack(1), .seq = 0, .ack = 7};
  EXPECT_EQ(Fields(RoundTrip(reply)), Fields(reply));
}

TEST(CodecResume, SeqAndAckAreTheLastEntriesAndOnlyWhenNonzero) {
  EXPECT_EQ(
      Bytes(EncodeEnvelope(Data{.channel = "c", .peer = "p", .seq = 5, .ack = 4})),
      Bytes(RawEnvelope(
          Command::kData,
          RawMap().Set("channel", "c").Set("peer", "p").Set("seq", 5).Set("ack", 4).Encode())));
  EXPECT_EQ(Bytes(EncodeEnvelope(Request{.id = 1, .method = "m", .peer = "p", .ack = 9})),
            Bytes(RawEnvelope(
                Command::kRequest,
                RawMap().Set("id", 1).Set("method", "m").Set("peer", "p").Set("ack", 9).Encode())));
  EXPECT_EQ(Bytes(EncodeEnvelope(Reply{.id = 1, .code = 0, .error = "e", .seq = 300})),
            Bytes(RawEnvelope(
                Command::kReply,
                RawMap().Set("id", 1).Set("code", 0).Set("error", "e").Set("seq", 300).Encode())));
  // Zero is absent: the smallest DATA stays 6 bytes.
  EXPECT_EQ(Bytes(EncodeEnvelope(Data{.seq = 0, .ack = 0})), std::string("PMP1\x06\x80", 6));
}

TEST(CodecResume, SeqAndAckWithAnInlinePayload) {
  Frames payload;
  payload.push_back(Frame("hi"));
  Frames frames = Encode(Data{.seq = 1, .ack = 2}, std::move(payload), PayloadForm::kInlineSmall);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(
      Bytes(frames[0]),
      Bytes(RawEnvelope(Command::kData, RawMap().Set("seq", 1).Set("ack", 2).Encode())) + "hi");
  Result<Message> decoded = DecodeFrames(std::move(frames));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(std::get<Data>(decoded->header).seq, 1u);
  EXPECT_EQ(std::get<Data>(decoded->header).ack, 2u);
  ASSERT_EQ(decoded->payload.size(), 1u);
  EXPECT_EQ(Bytes(decoded->payload[0]), "hi");
}

TEST(CodecResume, ADataOfOnlySeqAndAckIsReadLikeAnyOtherHeader) {
  // The decoder reads this common header without the unpacker; what it reads must
  // be what the general path would, for every integer width and either key order.
  const uint64_t values[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 0xFFFFFFFFull,
                             0x100000000ull, std::numeric_limits<uint64_t>::max()};
  for (uint64_t v : values) {
    SCOPED_TRACE(v);
    Result<Message> one = DecodeRaw(Command::kData, RawMap().Set("seq", v).Encode());
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    EXPECT_EQ(std::get<Data>(one->header).seq, v);
    Result<Message> two =
        DecodeRaw(Command::kData, RawMap().Set("ack", v).Set("seq", v + 1).Encode());
    ASSERT_TRUE(two.ok()) << two.status().ToString();
    EXPECT_EQ(std::get<Data>(two->header).ack, v);
    EXPECT_EQ(std::get<Data>(two->header).seq, v + 1);
  }
  // A repeated key: the first counts, as on the general path.
  Result<Message> twice = DecodeRaw(Command::kData, std::string("\x82\xa3seq\x04\xa3seq\x09", 11));
  ASSERT_TRUE(twice.ok()) << twice.status().ToString();
  EXPECT_EQ(std::get<Data>(twice->header).seq, 4u);
  // Another 3-letter key is not taken for one of them: the general path reads it.
  Result<Message> other = DecodeRaw(Command::kData, RawMap().Set("seq", 4).Set("sex", 1).Encode());
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(std::get<Data>(other->header).seq, 4u);
  // Truncated: malformed, as before.
  std::string cut = RawMap().Set("seq", 300).Encode();
  cut.pop_back();
  EXPECT_THAT(DecodeRaw(Command::kData, cut).status(), IsMalformed(::testing::_));
  // A string value is still the wrong type.
  EXPECT_THAT(DecodeRaw(Command::kData, RawMap().Set("seq", "1").Encode()).status(),
              IsMalformed(HasSubstr("'seq' must be an unsigned integer")));
}

TEST(CodecFlatHeader, RequestsAndRepliesOfStringsAndIntegersReadLikeAnyOther) {
  // The decoder reads a REQUEST or REPLY whose values are all strings and unsigned
  // integers without the unpacker; what it reads must be what the general path
  // would, for every integer and string width.
  const uint64_t ids[] = {
      0, 1, 127, 128, 65536, 0x100000000ull, std::numeric_limits<uint64_t>::max()};
  const std::string methods[] = {"",
                                 "ping",
                                 std::string(31, 'm'),
                                 std::string(32, 'm'),
                                 std::string(300, 'm'),
                                 std::string(70000, 'm')};
  for (uint64_t id : ids) {
    for (const std::string& method : methods) {
      SCOPED_TRACE(std::to_string(id) + " " + std::to_string(method.size()));
      Request request{.id = id, .method = method, .peer = "p", .seq = id, .ack = 3};
      EXPECT_EQ(Fields(RoundTrip(request)), Fields(request));
      Reply reply{.id = id, .code = 404, .error = method, .peer = "p", .seq = 2, .ack = id};
      EXPECT_EQ(Fields(RoundTrip(reply)), Fields(reply));
    }
  }
  Reply plain{.id = 7, .code = 0};
  EXPECT_EQ(Fields(RoundTrip(plain)), Fields(plain));
  // With `args` or `result` (a map or any value) the general path reads them.
  Request with_args{.id = 1, .method = "m", .args = Pack(std::map<std::string, int>{{"a", 1}})};
  EXPECT_EQ(Fields(RoundTrip(with_args)), Fields(with_args));
  Reply with_result{.id = 1, .code = 0, .result = Pack("r")};
  EXPECT_EQ(Fields(RoundTrip(with_result)), Fields(with_result));
  // Unknown keys are skipped, whatever their value.
  Result<Message> unknown = DecodeRaw(
      Command::kRequest,
      RawMap().Set("x", 5).Set("id", 9).Set("y", "z").Set("method", "m").Set("w", 1.5).Encode());
  ASSERT_TRUE(unknown.ok()) << unknown.status().ToString();
  EXPECT_EQ(std::get<Request>(unknown->header).id, 9u);
  EXPECT_EQ(std::get<Request>(unknown->header).method, "m");
  Result<Message> unknown_reply =
      DecodeRaw(Command::kReply, RawMap().Set("code", 1).Set("later", "k").Set("id", 4).Encode());
  ASSERT_TRUE(unknown_reply.ok()) << unknown_reply.status().ToString();
  EXPECT_EQ(std::get<Reply>(unknown_reply->header).id, 4u);
  EXPECT_EQ(std::get<Reply>(unknown_reply->header).code, 1u);
  // A repeated key: the first counts, as on the general path.
  Result<Message> twice = DecodeRaw(Command::kReply, std::string("\x83\xa2id\x04\xa4"
                                                                 "code\x00\xa2id\x09",
                                                                 15));
  ASSERT_TRUE(twice.ok()) << twice.status().ToString();
  EXPECT_EQ(std::get<Reply>(twice->header).id, 4u);
}

TEST(CodecFlatHeader, WrongOrMissingValuesAreStillMalformed) {
  EXPECT_THAT(DecodeRaw(Command::kRequest, RawMap().Set("method", "m").Encode()).status(),
              IsMalformed(HasSubstr("'id' is missing")));
  EXPECT_THAT(DecodeRaw(Command::kRequest, RawMap().Set("id", 1).Encode()).status(),
              IsMalformed(HasSubstr("'method' is missing")));
  EXPECT_THAT(
      DecodeRaw(Command::kRequest, RawMap().Set("id", "1").Set("method", "m").Encode()).status(),
      IsMalformed(HasSubstr("'id' must be an unsigned integer")));
  EXPECT_THAT(
      DecodeRaw(Command::kRequest, RawMap().Set("id", 1).Set("method", 2).Encode()).status(),
      IsMalformed(HasSubstr("'method' must be a string")));
  EXPECT_THAT(
      DecodeRaw(Command::kRequest, RawMap().Set("id", 1).Set("method", "m").Set("peer", 3).Encode())
          .status(),
      IsMalformed(HasSubstr("'peer' must be a string")));
  EXPECT_THAT(DecodeRaw(Command::kRequest,
                        RawMap().Set("id", 1).Set("method", "m").Set("args", "a").Encode())
                  .status(),
              IsMalformed(HasSubstr("'args' must be a map")));
  EXPECT_THAT(DecodeRaw(Command::kReply, RawMap().Set("id", 1).Encode()).status(),
              IsMalformed(HasSubstr("'code' is missing")));
  EXPECT_THAT(DecodeRaw(Command::kReply, RawMap().Set("id", 1).Set("code", 0x100000000ull).Encode())
                  .status(),
              IsMalformed(HasSubstr("'code' must be an unsigned integer below 2^32")));
  EXPECT_THAT(
      DecodeRaw(Command::kReply, RawMap().Set("id", 1).Set("code", 0).Set("error", 5).Encode())
          .status(),
      IsMalformed(HasSubstr("'error' must be a string")));
  EXPECT_THAT(
      DecodeRaw(Command::kReply, RawMap().Set("id", 1).Set("code", 0).Set("seq", "1").Encode())
          .status(),
      IsMalformed(HasSubstr("'seq' must be an unsigned integer")));
  // Truncated anywhere: malformed, never read past the frame.
  const std::string whole =
      RawMap().Set("id", 300).Set("method", std::string(40, 'm')).Set("seq", 70000).Encode();
  for (size_t cut = 1; cut < whole.size(); ++cut) {
    SCOPED_TRACE(cut);
    EXPECT_THAT(DecodeRaw(Command::kRequest, whole.substr(0, cut)).status(),
                IsMalformed(::testing::_));
  }
}

TEST(CodecResume, MessagesOfOnePointOnePeersHaveNoSeqOrAck) {
  // The empty map (fast path) and a map with other keys alike.
  for (const std::string& header :
       {std::string("\x80", 1), RawMap().Set("channel", "c").Set("peer", "p").Encode()}) {
    Result<Message> data = DecodeRaw(Command::kData, header);
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    EXPECT_EQ(std::get<Data>(data->header).seq, 0u);
    EXPECT_EQ(std::get<Data>(data->header).ack, 0u);
  }
  Result<Message> request =
      DecodeRaw(Command::kRequest, RawMap().Set("id", 1).Set("method", "m").Encode());
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(std::get<Request>(request->header).seq, 0u);
  EXPECT_EQ(std::get<Request>(request->header).ack, 0u);
  Result<Message> reply = DecodeRaw(Command::kReply, RawMap().Set("id", 1).Set("code", 0).Encode());
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(std::get<Reply>(reply->header).seq, 0u);
  EXPECT_EQ(std::get<Reply>(reply->header).ack, 0u);
}

TEST(CodecResume, SeqAndAckOfTheWrongType) {
  const std::pair<Command, RawMap> headers[] = {
      {Command::kData, RawMap().Set("channel", "c")},
      {Command::kRequest, RawMap().Set("id", 1).Set("method", "m")},
      {Command::kReply, RawMap().Set("id", 1).Set("code", 0)},
  };
  for (const auto& [command, header] : headers) {
    SCOPED_TRACE(std::string(CommandName(command)));
    EXPECT_THAT(DecodeRaw(command, RawMap(header).Set("seq", "1").Encode()).status(),
                IsMalformed(HasSubstr("'seq' must be an unsigned integer")));
    EXPECT_THAT(DecodeRaw(command, RawMap(header).Set("seq", -1).Encode()).status(),
                IsMalformed(HasSubstr("'seq' must be an unsigned integer")));
    EXPECT_THAT(DecodeRaw(command, RawMap(header).Set("ack", true).Encode()).status(),
                IsMalformed(HasSubstr("'ack' must be an unsigned integer")));
    EXPECT_THAT(DecodeRaw(command, RawMap(header).Set("ack", 1.5).Encode()).status(),
                IsMalformed(HasSubstr("'ack' must be an unsigned integer")));
  }
}

TEST(CodecResume, ResumeAndResumedRoundTrip) {
  const Resume resume{.session = "5f1e0c3a9b2d4e67",
                      .token = std::string(kToken),
                      .received = std::numeric_limits<uint64_t>::max()};
  EXPECT_EQ(Fields(RoundTrip(resume)), Fields(resume));
  const Resume nothing_yet{.session = "s", .token = "t", .received = 0};
  EXPECT_EQ(Fields(RoundTrip(nothing_yet)), Fields(nothing_yet));
  const Resumed resumed{.session = "5f1e0c3a9b2d4e67", .received = 1000};
  EXPECT_EQ(Fields(RoundTrip(resumed)), Fields(resumed));
  const Resumed zero{.session = "s"};
  EXPECT_EQ(Fields(RoundTrip(zero)), Fields(zero));
}

TEST(CodecResume, ResumeAndResumedTakeNoPayload) {
  EXPECT_FALSE(TakesPayload(Command::kResume));
  EXPECT_FALSE(TakesPayload(Command::kResumed));
  for (const Header& header :
       {Header(Resume{.session = "s", .token = "t"}), Header(Resumed{.session = "s"})}) {
    SCOPED_TRACE(std::string(CommandName(CommandOf(header))));
    EXPECT_THAT(DecodeEnvelopeFrame(Frame(Bytes(EncodeEnvelope(header)) + "xy")).status(),
                IsMalformed(HasSubstr("2 bytes follow the header map")));
  }
}

// Computed by hand: a 32-character token no longer fits a fixstr (at most 31), so it
// is a str 8; the session's 16 characters are a fixstr.
TEST(CodecGolden, ResumeEnvelopeBytes) {
  std::string golden("PMP1\x0c\x83", 6);                          // RESUME, map of 3
  golden += std::string("\xa7session\xb0") + "5f1e0c3a9b2d4e67";  // fixstr 7, fixstr 16
  golden += std::string("\xa5token\xd9\x20") + kToken;            // fixstr 5, str 8 of 32
  golden += "\xa8received\x2a";                                   // fixstr 8, fixint 42
  ASSERT_EQ(golden.size(), 81u);
  ExpectGolden(Resume{.session = "5f1e0c3a9b2d4e67", .token = std::string(kToken), .received = 42},
               golden);
}

TEST(CodecGolden, ResumedEnvelopeBytes) {
  std::string golden("PMP1\x0d\x82", 6);                          // RESUMED, map of 2
  golden += std::string("\xa7session\xb0") + "5f1e0c3a9b2d4e67";  // fixstr 7, fixstr 16
  golden += "\xa8received\xcd\x03\xe8";                           // fixstr 8, uint 16 1000
  ASSERT_EQ(golden.size(), 43u);
  ExpectGolden(Resumed{.session = "5f1e0c3a9b2d4e67", .received = 1000}, golden);
}

TEST(CodecGolden, TheResumeExamplesOfProtocolSection17) {
  // docs/PROTOCOL.md §17.4 to §17.6: the sizes, and the short ones byte for byte.
  const std::string token = "9c1d6e0b4f2a87d35e60c1b9a4f7d208";
  EXPECT_EQ(EncodeEnvelope(Welcome{.session = "5f1e0c3a9b2d4e67",
                                   .role = "server",
                                   .name = "viz-1",
                                   .version = "1.2",
                                   .software = "procmod 0.1.0",
                                   .heartbeat_ms = 1000,
                                   .liveness = 3,
                                   .resume_token = token,
                                   .resume_grace_ms = 60'000})
                .size(),
            188u);
  EXPECT_EQ(EncodeEnvelope(Resume{.session = "5f1e0c3a9b2d4e67", .token = token, .received = 1041})
                .size(),
            83u);
  EXPECT_EQ(Bytes(EncodeEnvelope(Resumed{.session = "5f1e0c3a9b2d4e67", .received = 998})),
            std::string("PMP1\x0d\x82\xa7session\xb0"
                        "5f1e0c3a9b2d4e67\xa8received\xcd\x03\xe6"));
  Frames payload;
  payload.push_back(Frame("hi"));
  Frames data =
      Encode(Data{.seq = 1042, .ack = 998}, std::move(payload), PayloadForm::kInlineSmall);
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(Bytes(data[0]), std::string("PMP1\x06\x82\xa3seq\xcd\x04\x12\xa3"
                                        "ack\xcd\x03\xe6hi"));
}

TEST(PmpMalformed, ResumeRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(
      Command::kResume,
      RawMap().Set("session", "s").Set("token", kToken).Set("received", 3).Set("future", 1),
      {"session", "token", "received"});
  EXPECT_THAT(DecodeRaw(Command::kResume, "\x80").status(),
              IsMalformed(HasSubstr("required header key 'session' is missing")));
}

TEST(PmpMalformed, ResumedRequiredKeysMissing) {
  ExpectEachRequiredKeyIsRequired(
      Command::kResumed, RawMap().Set("session", "s").Set("received", 3), {"session", "received"});
  EXPECT_THAT(DecodeRaw(Command::kResumed, "\x80").status(),
              IsMalformed(HasSubstr("required header key 'session' is missing")));
}

TEST(PmpMalformed, ResumeAndResumedKeysOfTheWrongType) {
  const RawMap resume = RawMap().Set("session", "s").Set("token", kToken).Set("received", 3);
  EXPECT_THAT(DecodeRaw(Command::kResume, RawMap(resume).Set("session", 1).Encode()).status(),
              IsMalformed(HasSubstr("'session' must be a string")));
  EXPECT_THAT(
      DecodeRaw(Command::kResume, RawMap(resume).SetPacked("token", "\xc4\x01x").Encode())  // bin
          .status(),
      IsMalformed(HasSubstr("'token' must be a string")));
  EXPECT_THAT(DecodeRaw(Command::kResume, RawMap(resume).Set("received", -3).Encode()).status(),
              IsMalformed(HasSubstr("'received' must be an unsigned integer")));
  const RawMap resumed = RawMap().Set("session", "s").Set("received", 3);
  EXPECT_THAT(DecodeRaw(Command::kResumed, RawMap(resumed).Set("received", "3").Encode()).status(),
              IsMalformed(HasSubstr("'received' must be an unsigned integer")));
  EXPECT_THAT(DecodeRaw(Command::kResumed,
                        RawMap(resumed).SetPacked("session", Pack(msgpack::type::nil_t())).Encode())
                  .status(),
              IsMalformed(HasSubstr("'session' must be a string")));
}

TEST(CodecResume, UnknownKeysOnResumeAreIgnored) {
  Result<Message> decoded = DecodeRaw(Command::kResume, RawMap()
                                                            .Set("x-future", std::vector<int>{1})
                                                            .Set("session", "s")
                                                            .Set("token", kToken)
                                                            .Set("received", 3)
                                                            .Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(Fields(std::get<Resume>(decoded->header)),
            Fields(Resume{.session = "s", .token = std::string(kToken), .received = 3}));
}

TEST(CodecResume, GoneIsNotFound) {
  EXPECT_EQ(kCodeGone, 410u);
  const Status gone = StatusFromPmpCode(kCodeGone, "gone: no resumable session s");
  EXPECT_TRUE(gone.IsNotFound());
  EXPECT_EQ(gone.pmp_code(), 410u);
}

// ---- the DATA fast path ------------------------------------------------------

TEST(EncodeDataEnvelope, IsTheGeneralEncodingByteForByte) {
  // Every string width of msgpack (fixstr, str 8, 16, 32), every integer width,
  // with and without each key, and each way a payload can be laid out.
  const std::string channels[] = {"",
                                  "c",
                                  std::string(31, 'a'),
                                  std::string(32, 'b'),
                                  std::string(255, 'c'),
                                  std::string(256, 'd'),
                                  std::string(70000, 'e')};
  const uint64_t numbers[] = {0,      1,       0x7F,       0x80,        0xFF,        0x100,
                              0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000, ~uint64_t{0}};
  const std::vector<size_t> layouts[] = {
      {}, {0}, {1}, {64}, {kMaxInlinePayload}, {kMaxInlinePayload + 1}, {64, 64}};
  auto payload_of = [](const std::vector<size_t>& sizes) {
    Frames payload;
    for (size_t size : sizes) payload.push_back(Frame(std::string(size, 'p')));
    return payload;
  };
  size_t cases = 0;
  for (const std::string& channel : channels) {
    for (const std::string& peer : {std::string(), std::string("s1")}) {
      for (uint64_t seq : numbers) {
        for (uint64_t ack : {uint64_t{0}, uint64_t{5}, uint64_t{0x10000}, seq}) {
          for (const std::vector<size_t>& layout : layouts) {
            for (PayloadForm form : {PayloadForm::kFrames, PayloadForm::kInlineSmall}) {
              const Data data{.channel = channel, .peer = peer, .seq = seq, .ack = ack};
              Frames general_payload = payload_of(layout);
              Frames fast_payload = payload_of(layout);
              const std::string general =
                  Bytes(EncodeEnvelope(Header(data), general_payload, form));
              const std::string fast = Bytes(EncodeDataEnvelope(data, fast_payload, form));
              ASSERT_EQ(fast, general)
                  << "channel of " << channel.size() << ", peer '" << peer << "', seq " << seq
                  << ", ack " << ack << ", " << layout.size() << " frames";
              ASSERT_EQ(fast_payload.size(), general_payload.size());
              ++cases;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 7u * 2 * 11 * 4 * 7 * 2);
}

TEST(EncodeDataEnvelope, SaysWhereItsBytesAreOnlyWhereAMoveCannotMoveThem) {
  // Past a zmq_msg_t's size the bytes live apart from it: the span stays valid
  // when the frame is moved, and is the frame's content.
  Frames big = OneFrame(64);
  std::span<const char> bytes;
  zmq::message_t envelope =
      EncodeDataEnvelope(Data{.seq = 70000}, big, PayloadForm::kInlineSmall, &bytes);
  zmq::message_t moved = std::move(envelope);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(std::string(bytes.data(), bytes.size()), Bytes(moved));
  EXPECT_EQ(static_cast<const void*>(bytes.data()), moved.data());
  // A small envelope may sit inside the zmq_msg_t: no span, ask the frame.
  Frames small = OneFrame(8);
  bytes = std::span<const char>("stale", 5);
  (void)EncodeDataEnvelope(Data{.seq = 1}, small, PayloadForm::kInlineSmall, &bytes);
  EXPECT_TRUE(bytes.empty());
  // The general encoder says the same.
  Frames big_again = OneFrame(64);
  zmq::message_t general =
      EncodeEnvelope(Header(Data{.seq = 70000}), big_again, PayloadForm::kInlineSmall, &bytes);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(std::string(bytes.data(), bytes.size()), Bytes(general));
}

TEST(EncodeRelayed, SeqAndAckSurviveARelayByteForByte) {
  // `seq` in a wider encoding than ours: a relay that encoded again would shorten it.
  const std::string wide_seq("\xcf\0\0\0\0\0\0\0\x07", 9);
  for (Command command : {Command::kData, Command::kRequest, Command::kReply}) {
    SCOPED_TRACE(std::string(CommandName(command)));
    RawMap base;
    if (command == Command::kRequest) base.Set("id", 1).Set("method", "m");
    if (command == Command::kReply) base.Set("id", 1).Set("code", 0);
    RawMap sent = RawMap(base).Set("peer", "c1").SetPacked("seq", wide_seq).Set("ack", 1'000'000);
    Frames frames;
    frames.push_back(RawEnvelope(command, sent.Encode()));
    frames.push_back(Frame("payload"));
    Frames relayed = Relay(std::move(frames), "c2", PayloadForm::kFrames);
    ASSERT_EQ(relayed.size(), 2u);
    // `peer` moves to the end; `seq` and `ack` go on as they came.
    const std::string expected =
        RawMap(base).SetPacked("seq", wide_seq).Set("ack", 1'000'000).Set("peer", "c2").Encode();
    EXPECT_EQ(Bytes(relayed[0]), Bytes(RawEnvelope(command, expected)));
    Result<Message> decoded = DecodeFrames(std::move(relayed));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    std::visit(
        [](const auto& h) {
          if constexpr (requires { h.seq; }) {
            EXPECT_EQ(h.seq, 7u);
            EXPECT_EQ(h.ack, 1'000'000u);
            EXPECT_EQ(h.peer, "c2");
          } else {
            ADD_FAILURE() << "not a payload command";
          }
        },
        decoded->header);
  }
  // And from the server leg to a client leg (no `peer`), inline: the same entries.
  Frames inlined = Encode(
      Data{.channel = "c", .peer = "s1", .seq = 3, .ack = 2},
      [] {
        Frames p;
        p.push_back(Frame("hi"));
        return p;
      }(),
      PayloadForm::kInlineSmall);
  Frames to_client = Relay(std::move(inlined), "", PayloadForm::kInlineSmall);
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(Bytes(to_client[0]), Bytes(Encode(
                                     Data{.channel = "c", .seq = 3, .ack = 2},
                                     [] {
                                       Frames p;
                                       p.push_back(Frame("hi"));
                                       return p;
                                     }(),
                                     PayloadForm::kInlineSmall)[0]));
}

}  // namespace
}  // namespace procmod::pmp
