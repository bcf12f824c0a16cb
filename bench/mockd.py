#!/usr/bin/env python3
"""A stand-in Engine API daemon that answers at once, for measuring a client's own floor.

bench/run.sh drives the docker CLI (and berth) against this with the same commands it runs
against berthd and dockerd: whatever time a command takes here is the client's own (process
start, API negotiation, JSON decoding, rendering), since nothing here does any work.

Usage: mockd.py SOCKET [PS_BODY]
  SOCKET   unix socket to listen on (replaced if it exists)
  PS_BODY  file whose bytes are the answer to GET /containers/json (default: [])

Canned answers (the API version prefix /v1.NN is accepted and ignored):
  GET|HEAD /_ping                      200 "OK", API version 1.43 (what berthd announces)
  GET /containers/json                 200 PS_BODY
  POST /containers/create              201 a new container ID
  POST /containers/ID/attach           101, the stream closes once ID is started
  POST /containers/ID/wait             200, {"StatusCode":0} once ID is started
  POST /containers/ID/start            204, and ID counts as started (and exited at once)
  DELETE /containers/ID                204
Anything else is a 404 with a message, also printed on stderr, so that a client taking a path
this mock does not know fails loudly instead of being timed doing something else.
"""

import itertools
import os
import socket
import sys
import threading

API_VERSION = "1.43"


class Containers:
    """IDs handed out by create, and an event per ID that start sets."""

    def __init__(self):
        self._lock = threading.Lock()
        self._started = {}
        self._counter = itertools.count(1)

    def create(self):
        cid = "%064x" % next(self._counter)
        with self._lock:
            self._started[cid] = threading.Event()
        return cid

    def started(self, cid):
        with self._lock:
            return self._started.setdefault(cid, threading.Event())

    def remove(self, cid):
        with self._lock:
            self._started.pop(cid, None)


def send(conn, status, body=b"", ctype="application/json", extra=()):
    head = [f"HTTP/1.1 {status}", f"Api-Version: {API_VERSION}", "Ostype: linux",
            "Docker-Experimental: false", f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}", *extra, "", ""]
    conn.sendall("\r\n".join(head).encode() + body)


def read_request(reader):
    """Request line, headers and body of the next request; None at the end of the connection."""
    line = reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while True:
        h = reader.readline().decode("latin-1")
        if h in ("\r\n", "\n", ""):
            break
        name, _, value = h.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if length:
        reader.read(length)
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            reader.read(size + 2)
            if size == 0:
                break
    return method, target, headers


def route(target):
    """The path's segments without the query and the /v1.NN prefix."""
    path = target.split("?", 1)[0]
    parts = [p for p in path.split("/") if p]
    if parts and parts[0].startswith("v1."):
        parts = parts[1:]
    return parts


def serve(conn, containers, ps_body):
    reader = conn.makefile("rb")
    while True:
        req = read_request(reader)
        if req is None:
            return
        method, target, _ = req
        parts = route(target)
        if parts == ["_ping"]:
            send(conn, "200 OK", b"" if method == "HEAD" else b"OK", "text/plain; charset=utf-8")
        elif method == "GET" and parts == ["containers", "json"]:
            send(conn, "200 OK", ps_body)
        elif method == "POST" and parts == ["containers", "create"]:
            cid = containers.create()
            send(conn, "201 Created", b'{"Id":"%s","Warnings":[]}' % cid.encode())
        elif method == "POST" and len(parts) == 3 and parts[0] == "containers" and parts[2] == "attach":
            conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                         b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            # The container prints nothing and exits as soon as it starts.
            containers.started(parts[1]).wait()
            conn.shutdown(socket.SHUT_RDWR)
            return
        elif method == "POST" and len(parts) == 3 and parts[0] == "containers" and parts[2] == "wait":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            containers.started(parts[1]).wait()
            containers.remove(parts[1])
            chunk = b'{"Error":null,"StatusCode":0}\n'
            conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
        elif method == "POST" and len(parts) == 3 and parts[0] == "containers" and parts[2] == "start":
            containers.started(parts[1]).set()
            send(conn, "204 No Content")
        elif method == "DELETE" and len(parts) == 2 and parts[0] == "containers":
            containers.remove(parts[1])
            send(conn, "204 No Content")
        else:
            msg = f"mockd: no canned answer for {method} {target}"
            print(msg, file=sys.stderr, flush=True)
            send(conn, "404 Not Found", b'{"message":"%s"}' % msg.encode())


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = sys.argv[1]
    ps_body = open(sys.argv[2], "rb").read() if len(sys.argv) == 3 else b"[]"
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(128)
    containers = Containers()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, containers, ps_body), daemon=True).start()


if __name__ == "__main__":
    main()
