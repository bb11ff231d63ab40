#include "support/recording_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

namespace procmod::testing {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// A socket for the upstream leg, bound to `source` when set; -1 if that fails.
int UpstreamSocket(const std::optional<in_addr>& source) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || !source) return fd;
  sockaddr_in local = Loopback(0);
  local.sin_addr = *source;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

RecordingProxy::RecordingProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("recording proxy: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Run(); });
}

RecordingProxy::~RecordingProxy() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  close(wake_fd_);
  close(listen_fd_);
}

void RecordingProxy::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void RecordingProxy::Cut() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t ticket = ++cuts_asked_;
  Wake();
  cut_done_.wait(lock, [&] { return cuts_done_ >= ticket; });
}

void RecordingProxy::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}

int RecordingProxy::connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

void RecordingProxy::SetSourceAddress(std::string ip) {
  in_addr address{};
  if (inet_pton(AF_INET, ip.c_str(), &address) != 1 || (ntohl(address.s_addr) >> 24) != 127) {
    throw std::invalid_argument("recording proxy: not an IPv4 loopback address: " + ip);
  }
  std::lock_guard<std::mutex> lock(mu_);
  source_ = address;
}

void RecordingProxy::SetRate(std::optional<size_t> bytes_per_second) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    rate_ = bytes_per_second;
  }
  Wake();
}

void RecordingProxy::SetRecording(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  recording_ = on;
}

std::string RecordingProxy::Recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recorded_;
}

void RecordingProxy::Run() {
  struct Pair {
    int a, b;  // client side, server side
  };
  std::vector<Pair> pairs;
  auto close_all = [&pairs] {
    for (const Pair& p : pairs) {
      close(p.a);
      close(p.b);
    }
    pairs.clear();
  };
  // A token bucket for SetRate(): bytes that may pass now, refilled as time goes.
  using Clock = std::chrono::steady_clock;
  double allowance = 0;
  Clock::time_point refilled = Clock::now();
  std::optional<size_t> rate;
  bool recording = true;
  for (;;) {
    if (rate) {
      const Clock::time_point now = Clock::now();
      const double burst = std::max<double>(4096, static_cast<double>(*rate) / 20);
      allowance = std::min(
          burst, allowance + static_cast<double>(*rate) *
                                 std::chrono::duration<double>(now - refilled).count());
      refilled = now;
    }
    // Out of allowance, the pairs are not read: their senders' windows fill up.
    const bool may_pass = !rate || allowance >= 1;
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const Pair& p : pairs) {
      fds.push_back({p.a, static_cast<short>(may_pass ? POLLIN : 0), 0});
      fds.push_back({p.b, static_cast<short>(may_pass ? POLLIN : 0), 0});
    }
    const int wait_ms = may_pass || *rate == 0 ? -1 : 5;  // 5 ms: the bucket refills
    if (poll(fds.data(), fds.size(), wait_ms) < 0) continue;
    bool down = false;
    std::optional<in_addr> source;
    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof count);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      down = down_;
      source = source_;
      if (rate != rate_) {
        rate = rate_;
        allowance = 0;
        refilled = Clock::now();
      }
      recording = recording_;
      if (cuts_done_ < cuts_asked_) {
        close_all();  // before this turn reads or writes anything more
        cuts_done_ = cuts_asked_;
        cut_done_.notify_all();
        continue;  // the pollfds name closed descriptors now
      }
    }
    const size_t polled = pairs.size();  // a pair accepted now has no pollfd yet
    if (fds[1].revents & POLLIN) {
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      const int server = down ? -1 : UpstreamSocket(source);
      sockaddr_in target = Loopback(target_port_);
      if (client >= 0 && server >= 0 &&
          connect(server, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0) {
        pairs.push_back({client, server});
        std::lock_guard<std::mutex> lock(mu_);
        ++connections_;
      } else {
        if (client >= 0) close(client);
        if (server >= 0) close(server);
      }
    }
    std::vector<Pair> open(pairs.begin() + static_cast<std::ptrdiff_t>(polled), pairs.end());
    for (size_t i = 0; i < polled; ++i) {
      bool alive = true;
      for (int side = 0; side < 2 && alive; ++side) {
        if (!(fds[2 + 2 * i + side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int from = side == 0 ? pairs[i].a : pairs[i].b;
        const int to = side == 0 ? pairs[i].b : pairs[i].a;
        char buffer[65536];
        size_t want = sizeof buffer;
        if (rate) want = std::min(want, static_cast<size_t>(std::max(allowance, 0.0)));
        if (want == 0) {
          // Not read now; but a hangup (reported even unasked) ends the pair, or
          // poll() would report it again at once, for ever.
          if (fds[2 + 2 * i + side].revents & (POLLHUP | POLLERR)) alive = false;
          continue;
        }
        const ssize_t got = read(from, buffer, want);
        if (got <= 0) {
          alive = false;
          break;
        }
        if (rate) allowance -= static_cast<double>(got);
        if (recording) {
          std::lock_guard<std::mutex> lock(mu_);
          recorded_.append(buffer, static_cast<size_t>(got));
        }
        // Blocking (test traffic is small); MSG_NOSIGNAL: an end that died (a
        // broker killed by the test) ends the pair, not the test process (SIGPIPE).
        for (ssize_t sent = 0; sent < got;) {
          const ssize_t n = send(to, buffer + sent, static_cast<size_t>(got - sent), MSG_NOSIGNAL);
          if (n <= 0) {
            alive = false;
            break;
          }
          sent += n;
        }
      }
      if (alive) {
        open.push_back(pairs[i]);
      } else {
        close(pairs[i].a);
        close(pairs[i].b);
      }
    }
    pairs.swap(open);
  }
  close_all();
}

}  // namespace procmod::testing
