"""Registers one _presence._tcp service through Apple's dns_sd API (libdns_sd.so, by
ctypes), as a Mac's iChat or Adium does; used by `cargo xtask interop` and to capture the
test vectors in crates/dnssd/tests/vectors.

usage: dnssd_register.py LIBDNS_SD INSTANCE PORT [TXT-STRING...]

Prints `REGISTERED <name>` once mDNSResponder confirms (after probing; the name may have
been renamed). Then follows stdin: `txt k=v ...` updates the TXT record in place
(DNSServiceUpdateRecord) and prints `UPDATED`; `quit` or end of input deallocates the
registration (mDNSResponder sends its goodbye) and prints `GONE`."""
import ctypes, select, sys

lib = ctypes.CDLL(sys.argv[1])
name, port = sys.argv[2], int(sys.argv[3])

def txt(pairs):
    out = b""
    for p in pairs:
        b = p.encode()
        out += bytes([len(b)]) + b
    return out or b"\0"

Reply = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int32,
                         ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
def reply(ref, flags, err, n, t, d, ctx):
    print("REGISTERED" if err == 0 else "ERROR %d" % err, n.decode(), flush=True)
callback = Reply(reply)
ref = ctypes.c_void_p()
record = txt(sys.argv[4:])
err = lib.DNSServiceRegister(ctypes.byref(ref), 0, 0, name.encode(), b"_presence._tcp",
                             None, None, ctypes.c_uint16(((port & 0xff) << 8) | (port >> 8)),
                             len(record), record, callback, None)
assert err == 0, err
fd = lib.DNSServiceRefSockFD(ref)
while True:
    ready, _, _ = select.select([fd, sys.stdin], [], [])
    if fd in ready:
        lib.DNSServiceProcessResult(ref)
    if sys.stdin in ready:
        line = sys.stdin.readline()
        words = line.split()
        if not words or words[0] == "quit":
            lib.DNSServiceRefDeallocate(ref)
            print("GONE", flush=True)
            break
        if words[0] == "txt":
            record = txt(words[1:])
            err = lib.DNSServiceUpdateRecord(ref, None, 0, len(record), record, 0)
            print("UPDATED" if err == 0 else "ERROR %d" % err, flush=True)
