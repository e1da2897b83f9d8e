"""Python `websockets`' permessage-deflate on the corpus, at its server
defaults (12-bit windows, memLevel 5, zlib's default level 6): compressed
bytes and process CPU per input byte, median of the passes. Prints one JSON
object per corpus file. Run by ./run with the interop suite's copy of
websockets on PYTHONPATH."""
import json
import os
import statistics
import struct
import sys
import time

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode


def read_msgs(path):
    data = open(path, "rb").read()
    i, msgs = 0, []
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        msgs.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return msgs


def main():
    corpus, passes = sys.argv[1], int(sys.argv[2])
    import websockets
    for name in sorted(f for f in os.listdir(corpus) if f.endswith(".msgs")):
        msgs = read_msgs(os.path.join(corpus, name))
        cpus, wire = [], 0
        for p in range(passes):
            ext = PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})
            t0 = time.process_time_ns()
            out = [ext.encode(Frame(Opcode.BINARY, m)).data for m in msgs]
            cpus.append(time.process_time_ns() - t0)
            if p == 0:
                wire = sum(len(o) for o in out)
        print(json.dumps({"corpus": name[:-5], "codec": f"Python websockets {websockets.__version__} (server defaults)",
                          "bytes_in": sum(map(len, msgs)), "bytes_out": wire, "cpu_ns": statistics.median(cpus)}))


main()
