// decoder_fuzz.cc: libFuzzer target on pmp::Decoder.
//
// Input layout (simple, so that seeds can be written by hand; make_corpus.py does):
//   byte 0        bits 0-1: frame count - 1 (1 to 4 frames);
//                 bit 2: put a routing-id frame in front and decode with first = 1
//   then every frame but the last as a 2-byte big-endian length (clamped to what
//   is left) followed by its bytes; the last frame is the rest of the input.
//
// Every input must either decode, or fail with PMP code 400. A message that decodes
// must re-encode (payload in frames, and inline where it fits), decode again to the
// same command and payload, and re-encode to the same envelope bytes. Anything else
// aborts. A DATA, REQUEST or REPLY must also relay (EncodeRelayed) to a message that
// decodes to the same header but for `peer`, with the same payload.
//
// Built with -DPROCMOD_DECODER_CORPUS_MAIN, this file also has a plain main() that
// runs every file of a seed directory through the same function (decoder_corpus_test,
// any compiler, run by ctest).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/codec.h"

namespace procmod::pmp {
namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "decoder_fuzz: check failed: %s\n", what);
    std::abort();
  }
}

std::string_view View(const zmq::message_t& frame) {
  return std::string_view(frame.data<char>(), frame.size());
}

// The frames of the input, as views into it (the routing id not included).
std::vector<std::string_view> Split(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  const size_t count = 1 + (data[0] & 0x03);
  std::vector<std::string_view> parts;
  size_t pos = 1;
  for (size_t i = 0; i + 1 < count; ++i) {
    size_t length = 0;
    if (pos + 2 <= size) {
      length = (size_t{data[pos]} << 8) | data[pos + 1];
      pos += 2;
    } else {
      pos = size;
    }
    if (length > size - pos) length = size - pos;
    parts.emplace_back(bytes + pos, length);
    pos += length;
  }
  parts.emplace_back(bytes + pos, size - pos);
  return parts;
}

// What a relay sends on: decodes, to the same header but for `peer`, and the same
// payload, in the layout of the leg it goes on.
void CheckRelay(Decoder& decoder, const zmq::message_t& envelope, const Message& message,
                const std::vector<std::string>& payload) {
  for (PayloadForm form : {PayloadForm::kFrames, PayloadForm::kInlineSmall}) {
    for (std::string_view peer : {std::string_view(), std::string_view("relayed-peer")}) {
      Frames copy;
      for (const std::string& bytes : payload) copy.emplace_back(bytes.data(), bytes.size());
      const bool inlined = InlinesPayload(form, copy);
      std::optional<Frames> relayed = EncodeRelayed(envelope, peer, copy, form);
      Check(relayed.has_value(), "a decoded DATA, REQUEST or REPLY can be relayed");
      Frames& frames = *relayed;
      Check(frames.size() == 1 + payload.size() - (inlined ? 1 : 0),
            "a relay keeps every payload frame");
      Result<Message> again = decoder.Decode(frames);
      Check(again.ok(), "a relayed message decodes");
      Check(again->payload.size() == payload.size(), "the payload survives a relay");
      for (size_t i = 0; i < payload.size(); ++i) {
        Check(View(again->payload[i]) == payload[i], "payload bytes survive a relay");
      }
      Header expected = message.header;
      std::visit(
          [&](auto& h) {
            if constexpr (requires { h.peer; }) h.peer = std::string(peer);
          },
          expected);
      Check(View(EncodeEnvelope(again->header)) == View(EncodeEnvelope(expected)),
            "a relay changes `peer` and nothing else");
    }
  }
}

int FuzzOne(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<std::string_view> parts = Split(data, size);
  const size_t first = (data[0] & 0x04) != 0 ? 1 : 0;
  Frames frames;
  if (first == 1) frames.emplace_back("\x00\x6b\x8b\x45\x67", 5);  // a routing id
  for (std::string_view part : parts) frames.emplace_back(part.data(), part.size());

  static Decoder decoder;  // reused, as the I/O thread reuses its own
  Result<Message> decoded = decoder.Decode(frames, first);
  if (!decoded.ok()) {
    Check(decoded.status().pmp_code() == kCodeMalformed, "a decode error is a 400");
    Check(!decoded.status().message().empty(), "a decode error has a reason");
    return 0;
  }
  Message message = std::move(*decoded);
  // Each payload frame kept, and, on DATA, REQUEST and REPLY, the envelope's bytes
  // after the header map in front of them as one more (an inline payload, 1.1).
  const size_t inline_count = message.payload.size() - (parts.size() - 1);
  Check(inline_count == 0 || inline_count == 1, "every payload frame kept");
  Check(message.payload.empty() || TakesPayload(message.command()), "payload only where taken");
  std::vector<std::string> payload;
  for (const zmq::message_t& frame : message.payload) payload.emplace_back(View(frame));
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    Check(payload[inline_count + i] == parts[1 + i], "payload frames are kept as they came");
  }
  if (inline_count == 1) {
    Check(parts[0].ends_with(payload[0]), "an inline payload is the envelope's tail");
  }

  const Command command = message.command();
  for (PayloadForm form : {PayloadForm::kFrames, PayloadForm::kInlineSmall}) {
    Frames copy;
    for (const std::string& bytes : payload) copy.emplace_back(bytes.data(), bytes.size());
    Frames encoded = Encode(message.header, std::move(copy), form);
    const bool inlined = InlinesPayload(form, message.payload);
    Check(encoded.size() == 1 + payload.size() - (inlined ? 1 : 0),
          "Encode keeps every payload frame");
    Result<Message> again = decoder.Decode(encoded);
    Check(again.ok(), "a re-encoded message decodes");
    Check(again->command() == command, "the command survives a round trip");
    Check(again->payload.size() == payload.size(), "the payload survives a round trip");
    for (size_t i = 0; i < payload.size(); ++i) {
      Check(View(again->payload[i]) == payload[i], "payload bytes survive a round trip");
    }
    // decode(encode(x)) == x: the second encoding is byte for byte the first.
    if (!inlined) {
      Check(View(EncodeEnvelope(again->header)) == View(encoded[0]),
            "re-encoding a decoded envelope is stable");
    }
  }
  if (TakesPayload(command)) CheckRelay(decoder, frames[first], message, payload);
  return 0;
}

}  // namespace
}  // namespace procmod::pmp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return procmod::pmp::FuzzOne(data, size);
}

#ifdef PROCMOD_DECODER_CORPUS_MAIN
#include <filesystem>
#include <fstream>
#include <iterator>

// decoder_corpus_test DIR: runs every regular file of DIR through the fuzz target.
// Fails when DIR holds no file, so a wrong path does not pass silently.
int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  std::error_code error;
  std::filesystem::directory_iterator it(argv[1], error);
  if (error) {
    std::fprintf(stderr, "%s: %s\n", argv[1], error.message().c_str());
    return 1;
  }
  int count = 0;
  for (const auto& entry : it) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++count;
  }
  std::printf("decoder_corpus_test: %d inputs from %s ran clean\n", count, argv[1]);
  return count > 0 ? 0 : 1;
}
#endif  // PROCMOD_DECODER_CORPUS_MAIN
