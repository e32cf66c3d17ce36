"""SQLAlchemy 2.0.36: every distinct statement's compiled form goes into the engine's LRU
compiled cache (500 entries by default), so memory climbs until the cache is full and then
stays (sqlalchemy/sqlalchemy#4560: "it is not leaking ... it prunes itself"). Each iteration runs
100 statements no earlier iteration ran, against an in-memory SQLite database."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

from sqlalchemy import create_engine, literal_column, select  # noqa: E402

ENGINE = create_engine("sqlite://")
CONN = ENGINE.connect()


def step(i):
    for k in range(100):
        n = i * 100 + k
        # no new label: each label would also stay in the dialect's identifier-quoting memo
        # (IdentifierPreparer._strings), which has no bound, and that growth is real
        CONN.execute(select(literal_column(str(n)))).fetchall()


_loop.run(step, 24)
