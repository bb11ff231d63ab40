// _procmod: the Python binding's native part (python/procmod/__init__.py wraps it;
// __init__.pyi is its documented API). Over the same C++ library as everything else:
// procmod::Client for clients, a ProcessModule for servers.
//
// Three rules make it safe to use from Python:
//   - Every blocking call releases the GIL, and waits in short slices, taking the GIL
//     back between them only to let Ctrl-C through (PyErr_CheckSignals).
//   - Python code never runs on the I/O thread. Callbacks and handlers go through a
//     Dispatcher: a thread of the binding's own that runs them one at a time, in
//     order, holding the GIL. A handler answers through a DeferredReply, so the I/O
//     thread goes on meanwhile, and a callback may call request() without deadlock.
//   - No exception crosses the I/O thread; a Python handler's exception becomes
//     REPLY 500 with its text.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "procmod/client.h"
#include "procmod/connection_file.h"
#include "procmod/logging.h"
#include "procmod/process_module.h"

namespace py = pybind11;

namespace procmod::python {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often a blocking wait looks at Ctrl-C.
constexpr milliseconds kSignalCheck{50};

// ---- errors ---------------------------------------------------------------

struct ErrorTypes {
  py::object base, invalid_argument, denied, timeout, unavailable, remote, closed;
};
ErrorTypes* errors = nullptr;  // set at import; lives as long as the interpreter

enum class Context { kConnect, kRequest, kOther };

[[noreturn]] void Raise(const py::object& type, const std::string& message, uint32_t code) {
  py::object error = type(message);
  error.attr("code") = code;
  error.attr("reason") = message;
  PyErr_SetObject(type.ptr(), error.ptr());
  throw py::error_already_set();
}

// The Python exception of a failed Status, as the call that failed reads it.
[[noreturn]] void Raise(const Status& s, Context context) {
  const std::string message(s.message());
  const uint32_t code = s.pmp_code();
  if (context == Context::kRequest && code != 0) Raise(errors->remote, message, code);
  if (context == Context::kConnect && (code != 0 || s.IsPermissionDenied())) {
    Raise(errors->denied, message, code);
  }
  if (s.IsInvalidArgument() || s.IsNotFound()) Raise(errors->invalid_argument, message, code);
  if (s.IsDeadlineExceeded()) Raise(errors->timeout, message, code);
  if (s.IsUnavailable() || s.IsAborted()) Raise(errors->unavailable, message, code);
  Raise(errors->base, message, code);
}

[[noreturn]] void RaiseClosed(const char* what) {
  Raise(errors->closed, std::string(what) + " is closed", 0);
}

// Waits for `ready()` without the GIL, in slices; raises KeyboardInterrupt (or what a
// signal handler raised) when a signal comes. Called with the GIL held.
template <typename Ready>
void WaitInterruptibly(Ready ready) {
  for (;;) {
    bool done = false;
    {
      py::gil_scoped_release release;
      done = ready(kSignalCheck);
    }
    if (done) return;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
}

// ---- frames ---------------------------------------------------------------

std::string BytesOf(const py::handle& item) {
  if (py::isinstance<py::bytes>(item)) return std::string(py::reinterpret_borrow<py::bytes>(item));
  if (py::isinstance<py::str>(item)) return item.cast<std::string>();
  if (py::isinstance<py::bytearray>(item) || py::isinstance<py::memoryview>(item)) {
    py::object copy = py::reinterpret_steal<py::object>(PyBytes_FromObject(item.ptr()));
    if (!copy) throw py::error_already_set();
    return std::string(py::reinterpret_borrow<py::bytes>(copy));
  }
  throw py::type_error("a frame must be bytes or str, not " +
                       std::string(py::str(item.get_type().attr("__name__"))));
}

Frames FramesOf(const py::args& items) {
  Frames frames;
  for (const py::handle& item : items) {
    std::string bytes = BytesOf(item);
    frames.emplace_back(bytes.data(), bytes.size());
  }
  return frames;
}

// bytes/str: one frame; a list or tuple: a frame each.
Frames PayloadOf(const py::object& payload) {
  if (py::isinstance<py::bytes>(payload) || py::isinstance<py::str>(payload) ||
      py::isinstance<py::bytearray>(payload) || py::isinstance<py::memoryview>(payload)) {
    std::string bytes = BytesOf(payload);
    Frames frames;
    frames.emplace_back(bytes.data(), bytes.size());
    return frames;
  }
  Frames frames;
  for (const py::handle& item : payload) {
    std::string bytes = BytesOf(item);
    frames.emplace_back(bytes.data(), bytes.size());
  }
  return frames;
}

py::list ListOf(const Frames& frames) {
  py::list list;
  for (const zmq::message_t& frame : frames) {
    list.append(py::bytes(static_cast<const char*>(frame.data()), frame.size()));
  }
  return list;
}

milliseconds Millis(double seconds) {
  return milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
}

py::dict DictOf(const PeerInfo& p) {
  py::dict d;
  d["session"] = p.session;
  d["name"] = p.name;
  d["role"] = p.role;
  d["address"] = p.address;
  d["state"] = p.state;
  d["incoming"] = p.incoming;
  d["version"] = p.version;
  d["software"] = p.software;
  d["rtt_us"] = p.rtt.count();
  d["msgs_in"] = p.msgs_in;
  d["msgs_out"] = p.msgs_out;
  d["bytes_in"] = p.bytes_in;
  d["bytes_out"] = p.bytes_out;
  return d;
}

// ---- the Python thread ------------------------------------------------------

// Runs Python callbacks and handlers, in order, on a thread of its own with the GIL.
// Its state is shared with the thread, so that a callback that drops the last
// reference to its own client (and so stops its own dispatcher) does no harm: the
// thread is then detached and ends by itself.
class Dispatcher {
 public:
  Dispatcher() : state_(std::make_shared<State>()) {
    thread_ = std::thread([state = state_] { Loop(*state); });
  }
  ~Dispatcher() { Stop(); }

  // From any thread (the I/O thread), without the GIL.
  void Post(std::function<void()> work) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (state_->stopping) return;
      state_->queue.push_back(std::move(work));
    }
    state_->wake.notify_one();
  }

  // Runs what is queued, then ends the thread. Call without the GIL (the thread needs
  // it to finish what is queued).
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stopping = true;
    }
    state_->wake.notify_one();
    if (!thread_.joinable()) return;
    if (OnThisThread()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }
  bool OnThisThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable wake;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
  };

  static void Loop(State& state) {
    for (;;) {
      std::function<void()> work;
      {
        std::unique_lock<std::mutex> lock(state.mu);
        state.wake.wait(lock, [&state] { return state.stopping || !state.queue.empty(); });
        if (state.queue.empty()) return;
        work = std::move(state.queue.front());
        state.queue.pop_front();
      }
      if (!Py_IsInitialized()) continue;  // the interpreter is going away
      py::gil_scoped_acquire gil;
      try {
        work();
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("procmod callback");
      } catch (const std::exception& e) {
        PyErr_WarnEx(PyExc_RuntimeWarning, e.what(), 1);
      }
    }
  }

  std::shared_ptr<State> state_;
  std::thread thread_;
};

// A Python callable shared with the I/O thread, which may only copy the pointer; the
// object is touched (called, released) with the GIL only.
using SharedCallable = std::shared_ptr<py::object>;

SharedCallable Share(py::object callable) {
  if (callable.is_none()) return nullptr;
  return SharedCallable(new py::object(std::move(callable)), [](py::object* p) {
    py::gil_scoped_acquire gil;  // may be dropped by a thread without the GIL
    delete p;
  });
}

// ---- Reply ------------------------------------------------------------------

struct PyReply {
  py::list frames;
  py::bytes result;
};

py::object PayloadValue(const py::list& frames) {
  if (frames.size() == 1) return frames[0];
  return frames;
}

// ---- Client -----------------------------------------------------------------

class PyClient {
 public:
  explicit PyClient(std::unique_ptr<Client> client) : client_(std::move(client)) {
    client_->OnData([this](const Connection&, std::string_view channel, Frames payload) {
      auto shared = std::make_shared<Frames>(std::move(payload));
      dispatcher_.Post([this, channel = std::string(channel), shared] {
        SharedCallable callback = DataCallback();
        if (callback) (*callback)(channel, ListOf(*shared));
      });
    });
    client_->OnDisconnected([this](const Connection&, const Disconnect& how) {
      dispatcher_.Post(
          [this, reason = std::string(DisconnectReasonName(how.reason)), message = how.message] {
            SharedCallable callback = DisconnectCallback();
            if (callback) (*callback)(reason, message);
          });
    });
  }
  ~PyClient() { CloseWithoutGil(); }

  std::string url() const { return server().address(); }
  std::string session() const { return server().session(); }

  PyReply Call(const std::string& method, const py::args& frames, std::optional<double> timeout,
               std::optional<py::bytes> args) {
    Client& client = Open();
    ReplyFuture future =
        client.Request(method, FramesOf(frames), timeout ? Millis(*timeout) : milliseconds(0),
                       args ? std::string(*args) : std::string());
    WaitInterruptibly([&future](milliseconds slice) {
      return future.wait_for(slice) == std::future_status::ready;
    });
    Result<Reply> reply(UnavailableError("no reply"));
    {
      py::gil_scoped_release release;
      reply = future.get();
    }
    if (!reply.ok()) Raise(reply.status(), Context::kRequest);
    return PyReply{ListOf(reply->payload), py::bytes(reply->result)};
  }

  void Send(const py::object& payload, const std::string& channel) {
    Frames frames = PayloadOf(payload);
    Client& client = Open();
    Status sent;
    {
      py::gil_scoped_release release;
      sent = client.Send(std::move(frames), channel);
    }
    if (!sent.ok()) Raise(sent, Context::kOther);
  }

  void OnData(py::object callback) {
    SharedCallable shared = Share(std::move(callback));
    std::lock_guard<std::mutex> lock(mu_);
    on_data_ = std::move(shared);
  }
  void OnDisconnected(py::object callback) {
    SharedCallable shared = Share(std::move(callback));
    std::lock_guard<std::mutex> lock(mu_);
    on_disconnected_ = std::move(shared);
  }

  py::list Peers() {
    Client& client = Open();
    std::vector<PeerInfo> peers;
    {
      py::gil_scoped_release release;
      peers = client.module().Connections();
    }
    py::list list;
    for (const PeerInfo& p : peers) list.append(DictOf(p));
    return list;
  }

  void Close() {
    py::gil_scoped_release release;
    CloseWithoutGil();
  }
  bool closed() const { return closed_.load(); }

 private:
  Client& Open() {
    if (closed_.load()) RaiseClosed("this client");
    return *client_;
  }
  Connection server() const {
    if (closed_.load()) RaiseClosed("this client");
    return client_->server();
  }
  SharedCallable DataCallback() {
    std::lock_guard<std::mutex> lock(mu_);
    return on_data_;
  }
  SharedCallable DisconnectCallback() {
    std::lock_guard<std::mutex> lock(mu_);
    return on_disconnected_;
  }
  void CloseWithoutGil() {
    if (closed_.exchange(true)) return;
    client_.reset();  // BYE, then the module goes; no callback comes after this
    dispatcher_.Stop();
  }

  std::unique_ptr<Client> client_;
  Dispatcher dispatcher_;
  std::atomic<bool> closed_{false};
  std::mutex mu_;
  SharedCallable on_data_;
  SharedCallable on_disconnected_;
};

ClientOptions MakeClientOptions(const std::string& name, double timeout, double request_timeout,
                                bool reconnect, uint64_t connect_id, const std::string& key,
                                const std::string& server_key) {
  ClientOptions options;
  options.module.name = name;
  options.module.timeouts.connect = Millis(timeout);
  options.request_timeout = Millis(request_timeout);
  options.module.reconnect = reconnect;
  options.module.connect_id = connect_id;
  options.module.security.curve.secret_key_file = key;
  options.module.security.curve.server_public_key = server_key;
  return options;
}

// Runs a blocking start-up call (connect, wait for a server) without the GIL, on
// another thread, so that Ctrl-C can interrupt the wait: the module is stopped then.
std::unique_ptr<PyClient> StartClient(std::function<Result<std::unique_ptr<Client>>()> start) {
  auto done = std::make_shared<std::promise<Result<std::unique_ptr<Client>>>>();
  std::future<Result<std::unique_ptr<Client>>> result = done->get_future();
  std::thread starter([done, start = std::move(start)] { done->set_value(start()); });
  try {
    WaitInterruptibly([&result](milliseconds slice) {
      return result.wait_for(slice) == std::future_status::ready;
    });
  } catch (...) {
    // Ctrl-C: end the wait (Start returns kAborted), then let the error through.
    {
      py::gil_scoped_release release;
      if (Result<ProcessModule*> module = ProcessModule::Get(); module.ok()) (*module)->Stop();
      starter.join();
      (void)result.get();  // a client that came anyway is closed here
    }
    throw;
  }
  Result<std::unique_ptr<Client>> client(UnavailableError("not started"));
  {
    py::gil_scoped_release release;
    starter.join();
    client = result.get();
  }
  if (!client.ok()) Raise(client.status(), Context::kConnect);
  return std::make_unique<PyClient>(std::move(*client));
}

std::unique_ptr<PyClient> Connect(const std::string& url, std::optional<std::string> render_url,
                                  const std::string& name, double timeout, double request_timeout,
                                  bool reconnect, uint64_t connect_id,
                                  std::optional<std::string> key,
                                  std::optional<std::string> server_key) {
  ClientOptions options = MakeClientOptions(name, timeout, request_timeout, reconnect, connect_id,
                                            key.value_or(""), server_key.value_or(""));
  std::string target = url;
  // A connection file (procmod-server --connection-file): its endpoint, id and key.
  if (url.find("://") == std::string::npos) {
    Options from_file = options.module;
    if (Status s = LoadConnectionFile(url, &from_file); !s.ok()) Raise(s, Context::kConnect);
    target = from_file.server_url;
    options.module.connect_id = from_file.connect_id;
    if (!from_file.security.curve.server_public_key.empty()) {
      options.module.security.curve.server_public_key = from_file.security.curve.server_public_key;
    }
  }
  return StartClient([target, render_url, options]() -> Result<std::unique_ptr<Client>> {
    if (render_url) {
      return Client::Connect(target, *render_url, options.module.timeouts.connect, options);
    }
    return Client::Connect(target, options);
  });
}

std::unique_ptr<PyClient> ReverseConnect(const std::string& listen_url, const std::string& name,
                                         double timeout, double request_timeout,
                                         uint64_t connect_id, py::object on_listening) {
  ClientOptions options =
      MakeClientOptions(name, timeout, request_timeout, false, connect_id, "", "");
  SharedCallable listening = Share(std::move(on_listening));
  return StartClient([listen_url, options, listening]() -> Result<std::unique_ptr<Client>> {
    return Client::WaitForServer(listen_url, options, [listening](const std::string& endpoint) {
      if (!listening) return;
      py::gil_scoped_acquire gil;
      try {
        (*listening)(endpoint);
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("procmod on_listening");
      }
    });
  });
}

// ---- Server -----------------------------------------------------------------

struct PyRequest {
  std::string method;
  py::list frames;
  py::bytes args;
  std::string session;
  std::string peer_name;
};

class PyServer {
 public:
  PyServer(std::string listen, std::string name, bool multi, uint64_t connect_id,
           std::string admin) {
    options_.role = Role::kServer;
    options_.listen = std::move(listen);
    options_.name = std::move(name);
    options_.multiple_connections = multi;
    options_.connect_id = connect_id;
    options_.admin.endpoint = std::move(admin);  // "": none
  }
  ~PyServer() {
    py::gil_scoped_release release;
    CloseWithoutGil();
  }

  void Handle(const std::string& method, py::object handler) {
    SharedCallable shared = Share(std::move(handler));
    {
      std::lock_guard<std::mutex> lock(mu_);
      handlers_[method] = shared;
    }
    if (module_ != nullptr) Register(method);
  }

  void OnData(py::object callback) {
    SharedCallable shared = Share(std::move(callback));
    std::lock_guard<std::mutex> lock(mu_);
    on_data_ = std::move(shared);
  }

  std::string Start() {
    if (closed_) RaiseClosed("this server");
    if (module_ != nullptr) return module_->ListenEndpoint();
    Result<ProcessModule*> module = ProcessModule::Initialize(options_);
    if (!module.ok()) Raise(module.status(), Context::kOther);
    module_ = *module;
    module_->OnData([this](const Connection& from, std::string_view channel, Frames payload) {
      auto shared = std::make_shared<Frames>(std::move(payload));
      dispatcher_.Post([this, session = from.session(), channel = std::string(channel), shared] {
        SharedCallable callback;
        {
          std::lock_guard<std::mutex> lock(mu_);
          callback = on_data_;
        }
        if (callback) (*callback)(session, channel, ListOf(*shared));
      });
    });
    std::vector<std::string> methods;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [method, unused] : handlers_) methods.push_back(method);
    }
    for (const std::string& method : methods) Register(method);
    Status started;
    {
      py::gil_scoped_release release;
      started = module_->Start();
    }
    if (!started.ok()) {
      py::gil_scoped_release release;
      CloseWithoutGil();
      py::gil_scoped_acquire gil;
      Raise(started, Context::kOther);
    }
    return module_->ListenEndpoint();
  }

  std::string Endpoint() const { return module_ ? module_->ListenEndpoint() : std::string(); }

  std::string Run(std::optional<double> timeout) {
    if (module_ == nullptr) Start();
    auto done = std::make_shared<std::promise<RunEnd>>();
    std::future<RunEnd> end = done->get_future();
    ProcessModule* module = module_;
    std::thread runner([module, done] { done->set_value(module->Run()); });
    const auto deadline = timeout ? Clock::now() + Millis(*timeout) : Clock::time_point::max();
    bool timed_out = false;
    try {
      WaitInterruptibly([&end, deadline, module, &timed_out](milliseconds slice) {
        if (end.wait_for(slice) == std::future_status::ready) return true;
        if (!timed_out && Clock::now() >= deadline) {
          timed_out = true;
          module->Stop();
        }
        return false;
      });
    } catch (...) {
      py::gil_scoped_release release;
      module->Stop();
      runner.join();
      throw;
    }
    {
      py::gil_scoped_release release;
      runner.join();
    }
    // "peer left" -> "peer_left": a Python identifier, to compare against.
    const RunEnd why = end.get();
    if (timed_out && why == RunEnd::kStopped) return "timeout";
    std::string name(RunEndName(why));
    std::replace(name.begin(), name.end(), ' ', '_');
    return name;
  }

  void Stop() {
    if (module_ != nullptr) module_->Stop();
  }

  void Send(const std::string& session, const py::object& payload, const std::string& channel) {
    if (module_ == nullptr) RaiseClosed("this server (not started)");
    Frames frames = PayloadOf(payload);
    Status sent;
    {
      py::gil_scoped_release release;
      Result<Connection> to = module_->FindConnection(session);
      sent = to.ok() ? to->Send(std::move(frames), channel) : to.status();
    }
    if (!sent.ok()) Raise(sent, Context::kOther);
  }

  py::list Peers() {
    py::list list;
    if (module_ == nullptr) return list;
    std::vector<PeerInfo> peers;
    {
      py::gil_scoped_release release;
      peers = module_->Connections();
    }
    for (const PeerInfo& p : peers) list.append(DictOf(p));
    return list;
  }

  void Close() {
    py::gil_scoped_release release;
    CloseWithoutGil();
  }

 private:
  // The handler the module calls on its I/O thread: defer, and hand the work to the
  // Python thread.
  void Register(const std::string& method) {
    module_->RegisterHandler(method, [this](IncomingRequest& request) {
      auto reply = std::make_shared<DeferredReply>(request.Defer());
      auto payload = std::make_shared<Frames>(std::move(request.payload));
      dispatcher_.Post([this, method = request.method, args = std::move(request.args),
                        session = request.from.session(), name = request.from.name(), payload,
                        reply] { reply->Send(Answer(method, args, session, name, *payload)); });
      return Reply{};
    });
  }

  // On the Python thread, with the GIL.
  Reply Answer(const std::string& method, const std::string& args, const std::string& session,
               const std::string& name, const Frames& payload) {
    SharedCallable handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = handlers_.find(method); it != handlers_.end()) handler = it->second;
    }
    if (!handler) return Reply{404, "unknown method '" + method + "'", {}, {}};
    try {
      PyRequest request{method, ListOf(payload), py::bytes(args), session, name};
      py::object value = (*handler)(request);
      return ReplyOf(value);
    } catch (py::error_already_set& e) {
      if (e.matches(errors->remote)) {
        py::object error = e.value();
        const uint32_t code = py::cast<uint32_t>(error.attr("code"));
        return Reply{code == 0 ? 500u : code, py::str(error).cast<std::string>(), {}, {}};
      }
      return Reply{500, "handler for '" + method + "' failed: " + std::string(e.what()), {}, {}};
    } catch (const std::exception& e) {
      return Reply{500, "handler for '" + method + "' failed: " + std::string(e.what()), {}, {}};
    }
  }

  static Reply ReplyOf(const py::object& value) {
    Reply reply;
    if (value.is_none()) return reply;
    if (py::isinstance<PyReply>(value)) {
      const PyReply& r = value.cast<const PyReply&>();
      for (const py::handle& frame : r.frames) {
        std::string bytes = BytesOf(frame);
        reply.payload.emplace_back(bytes.data(), bytes.size());
      }
      reply.result = std::string(r.result);
      return reply;
    }
    reply.payload = PayloadOf(value);
    return reply;
  }

  void CloseWithoutGil() {
    if (closed_) return;
    closed_ = true;
    if (module_ != nullptr) {
      module_->Stop();
      ProcessModule::Finalize();  // BYE to every client; no handler runs after this
      module_ = nullptr;
    }
    dispatcher_.Stop();
  }

  Options options_;
  ProcessModule* module_ = nullptr;
  bool closed_ = false;
  Dispatcher dispatcher_;
  std::mutex mu_;
  std::map<std::string, SharedCallable> handlers_;
  SharedCallable on_data_;
};

std::string MsgpackToJson(const std::string& bytes) {
  nlohmann::json value = nlohmann::json::from_msgpack(bytes, true, /*allow_exceptions=*/false);
  return value.is_discarded() ? "null" : value.dump();
}

py::str MonitorList(const std::string& admin_endpoint, double timeout) {
  Result<Reply> reply(UnavailableError("not asked"));
  {
    py::gil_scoped_release release;
    reply = AdminRequest(admin_endpoint, "connections.list", {}, Millis(timeout));
  }
  if (!reply.ok()) Raise(reply.status(), Context::kRequest);
  // msgpack to JSON text here (nlohmann); json.loads on the Python side.
  return py::str(MsgpackToJson(reply->result));
}

}  // namespace
}  // namespace procmod::python

PYBIND11_MODULE(_procmod, m) {
  using namespace procmod::python;
  namespace pm = procmod;
  m.doc() = "procmod's native part; use the procmod package.";
  m.attr("PROTOCOL_VERSION") = std::string(pm::ProcessModule::ProtocolVersion());
  // The library logs on stderr; a Python program wants its warnings, not every
  // session's start and end. PROCMOD_LOG_LEVEL (trace ... off) says otherwise.
  pm::LogOptions log;
  const char* level = std::getenv("PROCMOD_LOG_LEVEL");
  log.level = level != nullptr ? level : "warn";
  (void)pm::ConfigureLogging(log);

  // The exception types are made in Python (procmod/_errors.py), so they can inherit
  // from the built-in ones (TimeoutError, ConnectionError, ValueError).
  py::module_ types = py::module_::import("procmod._errors");
  errors = new ErrorTypes{types.attr("Error"),       types.attr("InvalidArgument"),
                          types.attr("Denied"),      types.attr("Timeout"),
                          types.attr("Unavailable"), types.attr("RemoteError"),
                          types.attr("Closed")};

  py::class_<PyReply>(m, "Reply")
      .def(py::init([](py::list frames, py::bytes result) {
             return PyReply{frames, result};
           }),
           py::arg("frames") = py::list(), py::arg("result") = py::bytes())
      .def_readwrite("frames", &PyReply::frames)
      .def_readwrite("result", &PyReply::result)
      .def("__repr__", [](const PyReply& r) {
        return "<procmod.Reply " + std::to_string(r.frames.size()) + " frame(s)>";
      });

  py::class_<PyRequest>(m, "Request")
      .def_readonly("method", &PyRequest::method)
      .def_readonly("frames", &PyRequest::frames)
      .def_readonly("args", &PyRequest::args)
      .def_readonly("session", &PyRequest::session)
      .def_readonly("peer_name", &PyRequest::peer_name);

  py::class_<PyClient>(m, "Client")
      .def_property_readonly("url", &PyClient::url)
      .def_property_readonly("session", &PyClient::session)
      .def("call", &PyClient::Call, py::arg("method"), py::arg("timeout") = py::none(),
           py::arg("args") = py::none())
      .def(
          "request",
          [](PyClient& c, const std::string& method, const py::args& frames,
             std::optional<double> timeout, std::optional<py::bytes> args) {
            return PayloadValue(c.Call(method, frames, timeout, args).frames);
          },
          py::arg("method"), py::arg("timeout") = py::none(), py::arg("args") = py::none())
      .def("send", &PyClient::Send, py::arg("payload"), py::arg("channel") = "")
      .def("on_data", &PyClient::OnData, py::arg("callback"))
      .def("on_disconnected", &PyClient::OnDisconnected, py::arg("callback"))
      .def("peers", &PyClient::Peers)
      .def("close", &PyClient::Close)
      .def_property_readonly("closed", &PyClient::closed);

  py::class_<PyServer>(m, "Server")
      .def(py::init<std::string, std::string, bool, uint64_t, std::string>(),
           py::arg("listen") = "tcp://127.0.0.1:0", py::kw_only(),
           py::arg("name") = "procmod-python", py::arg("multi") = true, py::arg("connect_id") = 0,
           py::arg("admin") = "")
      .def("handle", &PyServer::Handle, py::arg("method"), py::arg("handler"))
      .def("on_data", &PyServer::OnData, py::arg("callback"))
      .def("start", &PyServer::Start)
      .def_property_readonly("endpoint", &PyServer::Endpoint)
      .def("send", &PyServer::Send, py::arg("session"), py::arg("payload"), py::arg("channel") = "")
      .def("peers", &PyServer::Peers)
      .def("run", &PyServer::Run, py::arg("timeout") = py::none())
      .def("stop", &PyServer::Stop)
      .def("close", &PyServer::Close);

  m.def("connect", &Connect, py::arg("url"), py::kw_only(), py::arg("render_url") = py::none(),
        py::arg("name") = "procmod-python", py::arg("timeout") = 10.0,
        py::arg("request_timeout") = 5.0, py::arg("reconnect") = false, py::arg("connect_id") = 0,
        py::arg("key") = py::none(), py::arg("server_key") = py::none());
  m.def("reverse_connect", &ReverseConnect, py::arg("listen_url"), py::kw_only(),
        py::arg("name") = "procmod-python", py::arg("timeout") = 60.0,
        py::arg("request_timeout") = 5.0, py::arg("connect_id") = 0,
        py::arg("on_listening") = py::none());
  m.def("_monitor_list", &MonitorList, py::arg("admin_endpoint"), py::arg("timeout") = 2.0);
}
