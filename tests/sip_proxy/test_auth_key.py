import base64
import hashlib
import hmac

from service.sip_proxy import auth_key

SECRET = "test-auth-key-secret-0123456789"


def test_sign_matches_the_documented_algorithm():
    # The README's recipe, written out independently: a CRM back end must get the same key.
    customer_key = hmac.new(SECRET.encode(), b"omnisense-webphone-customer:42", hashlib.sha256).digest()
    message = b"omnisense-webphone-v1\n42\n1001\nagent.smith\n2026-12-01T17:00:00+02:00"
    expected = base64.urlsafe_b64encode(hmac.new(customer_key, message, hashlib.sha256).digest()).rstrip(b"=").decode()
    assert auth_key.sign(SECRET, 42, 1001, "agent.smith", "2026-12-01T17:00:00+02:00") == expected
    assert len(expected) == 43 and "=" not in expected


def test_verify_accepts_its_own_key():
    key = auth_key.sign(SECRET, 1, 2, "bob", "2026-01-01T00:00:00Z")
    assert auth_key.verify(SECRET, key, 1, 2, "bob", "2026-01-01T00:00:00Z")


def test_every_field_is_covered_by_the_key():
    args = (1, 2, "bob", "2026-01-01T00:00:00Z")
    key = auth_key.sign(SECRET, *args)
    for changed in [(9, 2, "bob", args[3]), (1, 9, "bob", args[3]), (1, 2, "bobby", args[3]),
                    (1, 2, "bob", "2026-01-01T00:00:01Z")]:
        assert not auth_key.verify(SECRET, key, *changed)
    assert not auth_key.verify("another-secret-0123456789", key, *args)


def test_fields_cannot_be_shifted_between_each_other():
    # "1" + "23" and "12" + "3" would collide without a separator.
    assert auth_key.sign(SECRET, 1, 23, "x", "d") != auth_key.sign(SECRET, 12, 3, "x", "d")


def test_customer_keys_differ_per_customer():
    assert auth_key.customer_key(SECRET, 1) != auth_key.customer_key(SECRET, 2)


def test_verify_survives_non_ascii_garbage():
    assert not auth_key.verify(SECRET, "ключ\udcff", 1, 2, "bob", "2026-01-01T00:00:00Z")
