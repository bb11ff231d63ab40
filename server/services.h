// services.h: what procmod-server offers its clients on top of the process module.
//
// Built-in methods and channels (docs/SERVER.md):
//   REQUEST ping              echoes its payload frames
//   REQUEST info              {name, role, mode, multi, software, protocol, uptime_ms,
//                              clients, ranks, rank_info: [{rank, host, pid}]} as a
//                              msgpack map (ranks: processes of a parallel server)
//   DATA on "broadcast"       (multi) relayed to every other client, not the sender
//   REQUEST collab.accept {enabled: bool}   master only: enable/disable new clients
//   REQUEST collab.connect_id {id: uint}    master only: the connect-id for new clients
//   REQUEST collab.subscribe {enabled: bool (default true)}
//                             -> {subscribed, master, master_name, clients}: the
//                             collaboration state now, and from then on
//   DATA on "collab"          to subscribed clients only: joins, leaves, master
//                             changes, as JSON text {"event": "joined"|"left"|...}
// Collab news is opt-in because telling every client of every join costs N messages
// per join: N² while N clients connect at once (12.5 million for 5,000 sessions,
// which stalled admission for tens of seconds before). Clients that show who else is
// there subscribe; the rest cost nothing.
// The master is the oldest admitted client; when it leaves the next oldest takes over
// (ParaView's collaboration rules).
//
// Code that embeds procmod can call InstallServerServices() on its own module and
// add handlers of its own with ProcessModule::RegisterHandler().
//
// Callbacks run on the module's I/O thread; this state is touched only there.
#ifndef PROCMOD_SERVER_SERVICES_H_
#define PROCMOD_SERVER_SERVICES_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "procmod/parallel.h"
#include "procmod/process_module.h"

namespace procmod::server {

class ServerServices {
 public:
  // Registers the handlers and callbacks above on `module`. `module` must outlive
  // the returned object, which must outlive the module's traffic (keep it until
  // Finalize()).
  // `ranks`: where each rank of a parallel server runs (ParallelJob::ranks()).
  static std::unique_ptr<ServerServices> Install(ProcessModule& module,
                                                 std::vector<RankInfo> ranks = {});

 private:
  ServerServices(ProcessModule& module, std::vector<RankInfo> ranks);

  Reply Ping(IncomingRequest& request);
  Reply Info(IncomingRequest& request);
  Reply SetAccepting(IncomingRequest& request);
  Reply SetConnectId(IncomingRequest& request);
  Reply Subscribe(IncomingRequest& request);
  void OnData(const Connection& from, std::string_view channel, Frames payload);
  void OnJoined(const Connection& peer);
  void OnLeft(const Connection& peer, DisconnectReason reason);

  // Sends `event` as JSON text on channel "collab" to every subscribed client.
  void Announce(const nlohmann::json& event);
  // Announces a master change if the oldest client is not who it was.
  void CheckMaster();
  // REPLY 403 unless `from` is the master.
  std::optional<Reply> RequireMaster(const Connection& from) const;

  ProcessModule& module_;
  const std::vector<RankInfo> ranks_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // I/O thread only. The clients, oldest first, kept as they join and leave: every
  // event would otherwise snapshot the whole identity table (O(N) per join).
  std::map<uint64_t, Connection> clients_;
  std::map<uint64_t, Connection> subscribers_;  // collab.subscribe'd, by the same seq
  std::unordered_map<std::string, uint64_t> seq_by_session_;
  uint64_t next_seq_ = 1;
  std::string master_;
};

}  // namespace procmod::server

#endif  // PROCMOD_SERVER_SERVICES_H_
