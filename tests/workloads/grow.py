"""A process whose memory grows at RATE MB/s, for UNTIL seconds (then holds what it has, reusing it).

`python grow.py RATE UNTIL`: UNTIL=0 grows for as long as it runs (a leak); UNTIL>0 grows and then
plateaus (a pool that fills and is reused). Pages are written, so they are really resident."""
import sys
import time

rate_mb, until = float(sys.argv[1]), float(sys.argv[2])
step = 0.05
chunk = int(rate_mb * 2**20 * step)
held = []
t0 = time.monotonic()
print("ready", flush=True)
while True:
    now = time.monotonic() - t0
    if until <= 0 or now < until:
        block = bytearray(chunk)
        block[::4096] = b"\1" * len(block[::4096])
        held.append(block)
    elif held:
        held[int(now * 20) % len(held)][0] = 1      # the plateau: reuse what is held
    time.sleep(step)
