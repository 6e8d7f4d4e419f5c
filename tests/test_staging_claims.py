"""Claims: one process stages a recording at a time; a dead or silent holder is taken over, a
live one is respected, and a process whose claim was taken knows it."""
import json
import os
import subprocess
import sys
import time

from video_swin_plugin.staging.claims import Claim


def test_one_holder_at_a_time_and_release(tmp_path):
    path = str(tmp_path / 'night.claim')
    a, b = Claim(path), Claim(path)
    assert a.acquire()
    assert not b.acquire() and not b.lost
    holder = json.loads(open(path).read())
    assert holder['pid'] == os.getpid() and holder['token'] == a.token
    a.release()
    assert not os.path.exists(path)
    assert b.acquire() and b.check()
    b.release()


def test_a_dead_holder_on_this_host_is_taken_over(tmp_path):
    path = str(tmp_path / 'night.claim')
    code = ('import sys; from video_swin_plugin.staging.claims import Claim; '
            f'assert Claim({path!r}).acquire(); sys.stdout.flush()')
    subprocess.run([sys.executable, '-c', code], check=True, timeout=120)  # exits holding it
    assert os.path.exists(path)
    claim = Claim(path)
    assert claim.acquire() and claim.check()
    claim.release()


def test_a_silent_holder_is_taken_over_after_the_timeout(tmp_path):
    path = str(tmp_path / 'night.claim')
    with open(path, 'w') as f:  # another machine's process, last heard of 10 s ago
        json.dump(dict(host='barn-pc', pid=123, started=0, token='x'), f)
    os.utime(path, (time.time() - 10, time.time() - 10))
    assert not Claim(path, stale_sec=60).acquire()
    taker = Claim(path, stale_sec=5)
    assert taker.acquire()
    taker.release()


def test_the_old_holder_notices_that_its_claim_was_taken(tmp_path):
    path = str(tmp_path / 'night.claim')
    old = Claim(path, heartbeat_sec=0.05)
    assert old.acquire()
    os.utime(path, (time.time() - 100, time.time() - 100))
    old._stop.set()  # a holder stalled (its heartbeat stopped), then resumes
    new = Claim(path, stale_sec=50)
    assert new.acquire()
    assert not old.check() and old.lost
    old.release()  # must not remove the new holder's claim
    assert os.path.exists(path) and new.check()
    new.release()
