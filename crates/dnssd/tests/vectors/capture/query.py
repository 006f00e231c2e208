"""Sends one mDNS query (questions given as NAME:TYPE[:qu]) from port 5353 to 224.0.0.251."""
import socket, struct, sys
TYPES = {"A": 1, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255}
def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        out += bytes([len(label.encode())]) + label.encode()
    return out + b"\0"
qs = [a.split(":") for a in sys.argv[1:]]
packet = struct.pack(">HHHHHH", 0, 0, len(qs), 0, 0, 0)
for q in qs:
    cls = 1 | (0x8000 if len(q) > 2 and q[2] == "qu" else 0)
    packet += name(q[0]) + struct.pack(">HH", TYPES[q[1]], cls)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("", 5353))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.sendto(packet, ("224.0.0.251", 5353))
