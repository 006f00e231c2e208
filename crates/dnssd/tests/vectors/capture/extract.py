import struct, sys, os
data = open(sys.argv[1], "rb").read()
out = sys.argv[2]
magic = struct.unpack("<I", data[:4])[0]
assert magic == 0xa1b2c3d4, hex(magic)
at = 24; n = 0
while at + 16 <= len(data):
    sec, usec, incl, orig = struct.unpack("<IIII", data[at:at+16])
    frame = data[at+16:at+16+incl]; at += 16 + incl
    if struct.unpack(">H", frame[12:14])[0] != 0x0800: continue
    ip = frame[14:]; ihl = (ip[0] & 15) * 4
    src = ".".join(map(str, ip[12:16])); dst = ".".join(map(str, ip[16:20]))
    udp = ip[ihl:]; payload = udp[8:]
    import time
    t = time.strftime("%H%M%S", time.gmtime(sec)) + "%03d" % (usec // 1000)
    name = "%03d-%s-%s-%s-%d.bin" % (n, t, src.split(".")[-1], dst.split(".")[-1] if not dst.startswith("224") else "mc", len(payload))
    open(os.path.join(out, name), "wb").write(payload); n += 1
print(n)
