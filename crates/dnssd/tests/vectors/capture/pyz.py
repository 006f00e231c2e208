import socket, sys, time
from zeroconf import ServiceInfo, Zeroconf
zc = Zeroconf(interfaces=[sys.argv[1]])
info = ServiceInfo("_presence._tcp.local.", "pyz@hostp._presence._tcp.local.",
    addresses=[socket.inet_aton(sys.argv[1])], port=5303, server="hostp.local.",
    properties={"txtvers": "1", "status": "dnd", "msg": "python here"})
zc.register_service(info)
print("REGISTERED", flush=True)
sys.stdin.readline()
zc.unregister_service(info)
zc.close()
print("GONE", flush=True)
