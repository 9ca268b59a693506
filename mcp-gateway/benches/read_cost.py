"""What a 64 KiB tool result costs through a gateway binary: raw JSON-RPC
over stdio (no SDK on the client side), `read_text_file` of a 64 KiB file on
the official filesystem server, direct and through each gateway binary given,
interleaved call by call. With --callgrind, also the instructions the
gateway process executes per call (valgrind's callgrind, N calls minus a run
with none).

    python read_cost.py --node-modules .deps/node/node_modules \
        [--calls 300] [--callgrind 100] NAME=PATH/TO/hitl-mcp ...
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


class Raw:
    def __init__(self, cmd, env=None):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        self.next_id = 1
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "read-cost", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            msg = json.loads(self.proc.stdout.readline())
            if "method" in msg and "id" in msg:
                self.send({"jsonrpc": "2.0", "id": msg["id"], "result": {"roots": []}})
            elif msg.get("id") == rid:
                return msg

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def gateway(binary, upstream, wrap=()):
    env = dict(os.environ, HITL_APPROVAL_URL="http://127.0.0.1:9", HITL_TOKEN="bench-token",
               RUST_LOG="error")
    return Raw([*wrap, binary, "serve", "--", *upstream], env)


def callgrind_ir(binary, upstream, args, calls):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        c = gateway(binary, upstream, ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"))
        for _ in range(calls):
            c.request("tools/call", args)
        c.close()
        with open(out) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    return int(line.split()[1])
    raise RuntimeError("no totals in the callgrind output")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--callgrind", type=int, default=0)
    ap.add_argument("gateways", nargs="+", help="NAME=PATH")
    a = ap.parse_args()
    root = tempfile.mkdtemp()
    path = os.path.join(root, "notes.txt")
    with open(path, "w") as f:
        f.write("a line of notes\n" * 4096)
    upstream = [os.path.join(a.node_modules, ".bin", "mcp-server-filesystem"), root]
    args = {"name": "read_text_file", "arguments": {"path": path}}
    named = [g.split("=", 1) for g in a.gateways]
    clients = {"direct": Raw(upstream)}
    for name, binary in named:
        clients[name] = gateway(binary, upstream)
    first = None
    for name, c in clients.items():
        for _ in range(30):
            r = c.request("tools/call", args)
        text = r["result"]["content"][0]["text"]
        assert len(text) == 65536, (name, len(text))
        first = first or r["result"]
        assert r["result"] == first, f"{name} answers differently"
    times = {n: [] for n in clients}
    for _ in range(a.calls):
        for name, c in clients.items():
            t = time.perf_counter()
            c.request("tools/call", args)
            times[name].append(time.perf_counter() - t)
    base = statistics.median(times["direct"])
    for name, ts in times.items():
        ts.sort()
        med = statistics.median(ts)
        p90 = ts[int(len(ts) * 0.9)]
        print(f"{name:>10}: median {med * 1e6:7.0f} us  p90 {p90 * 1e6:7.0f} us  "
              f"{med / base:.2f}x direct  (+{(med - base) * 1e6:.0f} us)")
    for c in clients.values():
        c.close()
    if a.callgrind:
        for name, binary in named:
            none = callgrind_ir(binary, upstream, args, 0)
            some = callgrind_ir(binary, upstream, args, a.callgrind)
            print(f"{name:>10}: {(some - none) / a.callgrind / 1e6:.2f} M instructions per call "
                  f"(callgrind, {a.callgrind} calls)")


if __name__ == "__main__":
    sys.exit(main())
