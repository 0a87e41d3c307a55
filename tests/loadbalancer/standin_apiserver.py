"""Stand-in "API server" for the load balancer test: HTTPS on a port, GET /readyz answers with the status
code read from a file (default 200; write 500 to make it unready), any other path answers 200 with the
host name, so a client can tell which backend served it.

Run inside a lab container: python3 standin_apiserver.py --port 6443 --cert C --key K --status-file F
"""

import argparse
import http.server
import socket
import ssl


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--status-file", required=True)
    args = parser.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path.startswith("/readyz"):
                try:
                    with open(args.status_file, encoding="ascii") as handle:
                        status = int(handle.read().strip() or "200")
                except (OSError, ValueError):
                    status = 200
                body = b"ok" if status == 200 else b"[-]etcd failed: not ready"
            else:
                status = 200
                body = socket.gethostname().encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
