// An httplib::Server whose handlers can ask whether their client is still connected, so that the
// engine work of a client that went away is cancelled at once instead of running to the end.
//
// cpp-httplib 0.11 gives a handler no view of its connection (later versions added
// Request::is_connection_closed). This server runs the per-connection keep-alive loop itself,
// through httplib's protected process_request, and remembers on the connection's thread which
// socket that thread serves; handlers and the content providers they install run on that thread.
#pragma once

#include <httplib.h>

namespace llmopt {

class ConnectionServer : public httplib::Server {
public:
    // Binds host:port (port 0: any free port) with a full-size accept queue; returns the port,
    // or -1 when the address cannot be bound.
    int bind_and_listen(const std::string& host, int port);

    // Called from a handler or content provider: false once the client closed or reset the
    // connection. A client still sending (a pipelined request) counts as connected.
    static bool client_connected();

private:
    bool process_and_close_socket(socket_t sock) override;
    // Waits for the next request of a kept-alive connection; false after the keep-alive timeout
    // or once the server stops.
    bool await_request(socket_t sock) const;
};

}  // namespace llmopt
