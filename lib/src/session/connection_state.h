// connection_state.h: what a Connection handle refers to. One immutable block per
// session, made by the I/O thread when the peer is admitted and shared by every copy
// of the handle, so handing a Connection to a callback per message costs one
// reference count, not four string copies.
#ifndef PROCMOD_SRC_SESSION_CONNECTION_STATE_H_
#define PROCMOD_SRC_SESSION_CONNECTION_STATE_H_

#include <memory>
#include <string>

#include "procmod/connection.h"
#include "session/send_window.h"

namespace procmod {

struct Connection::State {
  std::weak_ptr<IoLoop> loop;
  std::string session;
  std::string name;
  std::string role;
  std::string address;
  bool incoming = true;
  uint64_t link_id = 0;  // the DEALER of a peer we dialed (0: accepted or relayed)
  // Peers we dialed: the flow control of Send (send_window.h). Null otherwise.
  std::shared_ptr<SendWindow> window;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_CONNECTION_STATE_H_
