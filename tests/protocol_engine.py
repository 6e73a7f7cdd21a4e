"""A small engine program speaking docs/protocol.md, written from the document alone, in
plain Python with no adverify import — and able to misbehave on purpose, one way per
``--misbehave`` word, for tests/test_protocol.py:

    python tests/protocol_engine.py [--misbehave WORD] [--on OP]

Its ops: add sub mul sin exp tanh (reverse mode over the request's nodes). A misbehaviour
happens on checks whose expression uses ``--on`` (default ``exp``):
segfault, exit (exit code 3, after a line on stderr), hang, stdout-noise (a debug line on
stdout), count (one derivative too many), null (null for a derivative), error (an error
answer with an origin), wrong-id, stderr (a line on stderr, then a right answer), state
(each answer after the first grows by 1: a leak between requests). Whole-process ones:
version (hello says protocol 2), hello-error, no-name, ignore-eof (keeps running after its
input ends), slow-hello.
"""
import argparse
import json
import math
import os
import signal
import sys
import time

OPS = {
    "add": (lambda a, b: a + b, lambda a, b, v: (1.0, 1.0)),
    "sub": (lambda a, b: a - b, lambda a, b, v: (1.0, -1.0)),
    "mul": (lambda a, b: a * b, lambda a, b, v: (b, a)),
    "sin": (math.sin, lambda a, v: (math.cos(a),)),
    "exp": (math.exp, lambda a, v: (v,)),
    "tanh": (math.tanh, lambda a, v: (1.0 - v * v,)),
}


def num(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def differentiate(expression, point, names):
    nodes, values = expression["nodes"], []
    for node in nodes:
        if node["op"] == "var":
            values.append(float(point[node["name"]]))
        elif node["op"] == "const":
            values.append(float(node["value"]))
        else:
            values.append(OPS[node["op"]][0](*(values[a] for a in node["args"])))
    adjoint = [0.0] * len(nodes)
    adjoint[expression["output"]] = 1.0
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if node["op"] in ("var", "const") or adjoint[i] == 0.0:
            continue
        args = [values[a] for a in node["args"]]
        for a, d in zip(node["args"], OPS[node["op"]][1](*args, values[i])):
            adjoint[a] += adjoint[i] * d
    grads = {n: 0.0 for n in names}
    for i, node in enumerate(nodes):
        if node["op"] == "var":
            grads[node["name"]] += adjoint[i]
    return values[expression["output"]], [grads[n] for n in names]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--misbehave", default="")
    p.add_argument("--on", default="exp")
    args = p.parse_args()
    bad, requests = args.misbehave, 0
    if bad == "slow-hello":
        time.sleep(3)
    if bad == "ignore-eof":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for line in sys.stdin:
        request = json.loads(line)
        answer = {"id": request["id"]}
        if request["method"] == "hello":
            if bad == "hello-error":
                answer["error"] = "this engine speaks protocol 7 only"
            else:
                answer.update(protocol=2 if bad == "version" else 1, dtype="float64", ops=sorted(OPS),
                              capabilities={"value": True})
                if bad != "no-name":
                    answer["name"] = "protocol-engine"
            print(json.dumps(answer), flush=True)
            continue
        requests += 1
        ops = {n["op"] for n in request["expression"]["nodes"]}
        value, grads = differentiate(request["expression"], request["point"], request["variables"])
        if args.on in ops:
            if bad == "segfault":
                os.kill(os.getpid(), signal.SIGSEGV)
            if bad == "exit":
                print("protocol-engine: giving up on this one", file=sys.stderr, flush=True)
                sys.exit(3)
            if bad == "hang":
                time.sleep(3600)
            if bad == "stdout-noise":
                print(f"debug: {len(request['expression']['nodes'])} nodes", flush=True)
            if bad == "count":
                grads.append(0.0)
            if bad == "null":
                grads[0] = None
            if bad == "wrong-id":
                answer["id"] = request["id"] + 1
            if bad == "stderr":
                print(f"protocol-engine: request {request['id']} uses {args.on}", file=sys.stderr, flush=True)
            if bad == "error":
                answer.update(error=f"no rule for {args.on}", origin="protocol_engine.py:99")
                print(json.dumps(answer), flush=True)
                continue
        if bad == "state":
            grads = [g + requests - 1 for g in grads]   # the first request right, the next ones not
        answer["gradients"] = [g if g is None else num(g) for g in grads]
        if request.get("value"):
            answer["value"] = num(value)
        print(json.dumps(answer), flush=True)
    if bad == "ignore-eof":
        time.sleep(3600)


if __name__ == "__main__":
    main()
