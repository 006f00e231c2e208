"""A chat peer that streams as iChat does, for `cargo xtask interop`: it writes its stream
header the moment it accepts a connection, before reading the other side's, and names
itself nowhere (no `from` in its header, none in its stanzas: "you have a socket per
person"). Its presence is registered apart, with mDNSResponder (dnssd_register.py).

usage: ichat_peer.py PORT

Prints `LISTENING` once it accepts connections, and `GOT <text>` for every message body it
receives. Reads commands on stdin: `send HOST PORT TEXT` opens a connection to HOST:PORT,
sends its header and one message without `from`, and prints `ANSWER <what came back>`
(the other side's header, or a stream error) once that side is quiet for a second or
closes; `quit` or end of input ends it."""
import re, select, socket, sys

HEADER = (b"<?xml version='1.0' encoding='UTF-8' ?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams'>")

def bodies(data):
    return [m.decode() for m in re.findall(rb"<body>(.*?)</body>", data)]

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(8)
print("LISTENING", flush=True)
streams = {}
while True:
    ready, _, _ = select.select([listener, sys.stdin] + list(streams), [], [])
    for sock in ready:
        if sock is listener:
            conn, _ = listener.accept()
            conn.sendall(HEADER)
            streams[conn] = b""
        elif sock is sys.stdin:
            words = sys.stdin.readline().rstrip("\n").split(None, 3)
            if not words or words[0] == "quit":
                sys.exit(0)
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
        else:
            chunk = sock.recv(4096)
            if not chunk:
                del streams[sock]
                sock.close()
                continue
            data = streams[sock] + chunk
            for text in bodies(data):
                print("GOT", text, flush=True)
            streams[sock] = data[data.rfind(b"</message>") + len(b"</message>"):] \
                if b"</message>" in data else data
