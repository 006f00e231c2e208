"""Registers one _presence._tcp service through Apple's dns_sd API (libdns_sd.so, by
ctypes), as a Mac's iChat or Adium does; used by `cargo xtask interop` and to capture the
test vectors in crates/dnssd/tests/vectors.

usage: dnssd_register.py LIBDNS_SD INSTANCE PORT [TXT-STRING...]

Prints `REGISTERED <name>` once mDNSResponder confirms (after probing; the name may have
been renamed). Then follows stdin: `txt k=v ...` updates the TXT record in place
(DNSServiceUpdateRecord) and prints `UPDATED`; `quit` or end of input deallocates the
registration (mDNSResponder sends its goodbye) and prints `GONE`.

With COUNT=N in the environment it registers N services at once, INSTANCE with `{i}`
replaced by 1..N on ports PORT..PORT+N-1 (the discovery benchmark's "Mac with 100
services"); `txt` then updates the first."""
import ctypes, os, select, sys, time

from stdin_lines import stdin_lines

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
count = int(os.environ.get("COUNT", "1"))
refs = []
for i in range(1, count + 1):
    ref = ctypes.c_void_p()
    record = txt(sys.argv[4:])
    p = port + i - 1
    # kDNSServiceErr_ServiceNotRunning (-65563): a daemon just started may refuse a
    # moment longer than its first answer to `dns-sd -V` suggests.
    for attempt in range(50):
        err = lib.DNSServiceRegister(ctypes.byref(ref), 0, 0,
                                     name.replace("{i}", str(i)).encode(),
                                     b"_presence._tcp", None, None,
                                     ctypes.c_uint16(((p & 0xff) << 8) | (p >> 8)),
                                     len(record), record, callback, None)
        if err != -65563:
            break
        time.sleep(0.1)
    assert err == 0, err
    refs.append(ref)
fds = {lib.DNSServiceRefSockFD(ref): ref for ref in refs}


def command(line):
    """Carries out one line of stdin; False once it was `quit`."""
    words = line.split()
    if not words or words[0] == "quit":
        for ref in refs:
            lib.DNSServiceRefDeallocate(ref)
        print("GONE", flush=True)
        return False
    if words[0] == "txt":
        record = txt(words[1:])
        err = lib.DNSServiceUpdateRecord(refs[0], None, 0, len(record), record, 0)
        print("UPDATED" if err == 0 else "ERROR %d" % err, flush=True)
    return True


running = True
while running:
    ready, _, _ = select.select(list(fds) + [0], [], [])
    for fd in ready:
        if fd in fds:
            lib.DNSServiceProcessResult(fds[fd])
    if 0 in ready:
        lines = stdin_lines()
        for line in ["quit"] if lines is None else lines:
            running = running and command(line)
