from service.sip_proxy.limits import PerKeyLimit


def test_a_key_holds_at_most_limit_sessions_and_a_release_frees_one():
    limit = PerKeyLimit(2)
    assert limit.acquire("a") and limit.acquire("a") and not limit.acquire("a")
    assert limit.acquire("b")
    limit.release("a")
    assert limit.acquire("a") and not limit.acquire("a")
    for _ in range(3):
        limit.release("a")
    limit.release("b")
    assert len(limit) == 0  # no key is kept once its sessions are gone
