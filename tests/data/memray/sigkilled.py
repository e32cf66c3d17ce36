"""memray fixture: a run that `memray run` cannot finish, killed from outside with SIGKILL
(scripts/make_fixtures.sh memray): records 10,000 + i bytes per step, kept, until killed."""
import time

KEPT = []
i = 0
while True:
    KEPT.append(bytearray(10_000 + i))
    i += 1
    time.sleep(0.002)
