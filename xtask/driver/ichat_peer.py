"""A chat peer that streams as iChat does, for `cargo xtask interop`: it writes its stream
header the moment it accepts a connection, before reading the other side's, and names
itself nowhere (no `from` in its header, none in its stanzas: "you have a socket per
person"). Its presence is registered apart, with mDNSResponder (dnssd_register.py).

usage: ichat_peer.py PORT [--applesingle] [--curl]

Prints `LISTENING` once it accepts connections, and `GOT <text>` for every message body it
receives. Reads commands on stdin: `send HOST PORT TEXT` opens a connection to HOST:PORT,
sends its header and one message without `from`, and prints `ANSWER <what came back>`
(the other side's header, or a stream error) once that side is quiet for a second or
closes; `quit` or end of input ends it.

Files, as iChat moves them (XEP-0066 OOB over HTTP): a `jabber:iq:oob` offer that comes on
a stream is fetched at once with a GET (with `Accept-Encoding: AppleSingle` under
`--applesingle`, as iChat asks), reading exactly Content-Length bytes and refusing a
chunked body (with `--curl`, curl does the GET); it prints `FETCHED <status> <bytes> <sha256> <Content-Encoding or ->` and
answers the IQ with a result, as iChat does even when the fetch failed. `offer HOST PORT
PATH` serves PATH on an HTTP port of its own, sends the offer (the URL after a line
break, size and POSIX flags on `<url>`) on a new stream to HOST:PORT, prints `SERVED
<path asked> <status>` for every request and `OFFER_ANSWER <type>` when the IQ is
answered."""
import hashlib, os, re, select, socket, subprocess, sys, threading, urllib.parse

from stdin_lines import stdin_lines

HEADER = (b"<?xml version='1.0' encoding='UTF-8' ?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams'>")

APPLESINGLE = "--applesingle" in sys.argv[2:]
CURL = "--curl" in sys.argv[2:]


def bodies(data):
    return [m.decode() for m in re.findall(rb"<body>(.*?)</body>", data)]


def oob_offers(data):
    """(iq id, url) of every complete jabber:iq:oob set in `data`."""
    found = []
    for m in re.finditer(rb"<iq[^>]*>.*?</iq>", data, re.S):
        iq = m.group(0)
        if b"jabber:iq:oob" not in iq:
            continue
        ident = re.search(rb"id=['\"]([^'\"]*)['\"]", iq)
        url = re.search(rb"<url[^>]*>\s*(.*?)\s*</url>", iq, re.S)
        if ident and url:
            found.append((ident.group(1).decode(), url.group(1).decode().replace("&amp;", "&")))
    return found


def fetch(url):
    """GETs `url` as iChat does; (status, body, content-encoding)."""
    if CURL:
        out = "/tmp/ichat-peer-%d" % os.getpid()
        command = ["curl", "-s", "-o", out, "-w", "%{http_code}", url]
        if APPLESINGLE:
            command[1:1] = ["-H", "Accept-Encoding: AppleSingle"]
        status = subprocess.run(command, capture_output=True, text=True).stdout
        body = open(out, "rb").read() if os.path.exists(out) else b""
        return int(status or 0), body, "-"
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    conn = socket.create_connection((host, parts.port or 80), timeout=10)
    head = "GET %s HTTP/1.1\r\nHost: %s\r\n" % (parts.path or "/", parts.netloc)
    if APPLESINGLE:
        head += "Accept-Encoding: AppleSingle\r\n"
    conn.sendall((head + "\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return 0, b"", "-"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return -1, b"", "chunked"
    length = int(fields.get("content-length", "-1"))
    if length < 0:
        return -2, b"", "no-content-length"
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    conn.close()
    return status, body[:length], fields.get("content-encoding", "-")


def serve(path, ready):
    """Serves `path` on a port of its own, for the offer; prints each request."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("0.0.0.0", 0))
    server.listen(4)
    ready.append(server.getsockname()[1])
    body = open(path, "rb").read()
    while True:
        conn, _ = server.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                break
            request += chunk
        asked = request.split(b" ")[1].decode() if request.count(b" ") >= 2 else ""
        if urllib.parse.unquote(asked).endswith("/" + os.path.basename(path)):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            print("SERVED", asked, 200, flush=True)
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            print("SERVED", asked, 404, flush=True)
        conn.close()


def command(line):
    """Carries out one line of stdin."""
    words = line.rstrip("\n").split(None, 3)
    if not words or words[0] == "quit":
        sys.exit(0)
    if words[0] == "offer":
        ready = []
        threading.Thread(target=serve, args=(words[3], ready), daemon=True).start()
        while not ready:
            pass
        out = socket.create_connection((words[1], int(words[2])), timeout=5)
        out.sendall(HEADER)
        name = urllib.parse.quote(os.path.basename(words[3]))
        url = "http://%s:%d/ichat-1/%s" % (out.getsockname()[0], ready[0], name)
        size = os.path.getsize(words[3])
        out.sendall(("<iq type='set' id='iChat_1'><query xmlns='jabber:iq:oob'>"
                     "<url type='file' size='%d' posixflags='000001A4'>\n%s</url>"
                     "</query></iq>" % (size, url)).encode())
        offers[out] = b""
        streams[out] = b""
        return
    if words[0] == "send":
        out = socket.create_connection((words[1], int(words[2])), timeout=5)
        out.sendall(HEADER)
        body = words[3].replace("&", "&amp;").replace("<", "&lt;")
        out.sendall(b"<message type='chat'><body>%s</body></message>" % body.encode())
        answer = b""
        out.settimeout(1.0)
        try:
            while True:
                chunk = out.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            pass
        out.close()
        # One line, whatever line breaks the answer holds.
        print("ANSWER", " ".join(answer.decode(errors="replace").split("\n")), flush=True)


offers = {}

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(8)
print("LISTENING", flush=True)
streams = {}
while True:
    ready, _, _ = select.select([listener, 0] + list(streams), [], [])
    for sock in ready:
        if sock is listener:
            conn, _ = listener.accept()
            conn.sendall(HEADER)
            streams[conn] = b""
        elif sock == 0:
            lines = stdin_lines()
            for line in ["quit"] if lines is None else lines:
                command(line)
        else:
            chunk = sock.recv(4096)
            if not chunk:
                del streams[sock]
                sock.close()
                continue
            data = streams[sock] + chunk
            for text in bodies(data):
                print("GOT", text, flush=True)
            if sock in offers:
                answer = re.search(rb"<iq[^>]*type=['\"](result|error)['\"]", data)
                if answer:
                    print("OFFER_ANSWER", answer.group(1).decode(), flush=True)
                    del offers[sock]
            for ident, url in oob_offers(data):
                status, body, encoding = fetch(url)
                print("FETCHED", status, len(body), hashlib.sha256(body).hexdigest(), encoding, flush=True)
                # iChat answers a result whatever happened.
                sock.sendall(("<iq type='result' id='%s'/>" % ident).encode())
            if b"</iq>" in data:
                data = data[data.rfind(b"</iq>") + len(b"</iq>"):]
            streams[sock] = data[data.rfind(b"</message>") + len(b"</message>"):] \
                if b"</message>" in data else data
