import time
import pytest
from deliverability import suppression_csv
from deliverability.services import Actor
pytestmark = pytest.mark.django_db

@pytest.fixture(autouse=True)
def fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

def test_import_speed(lead):
    data = ("email,reason\n" + "".join(f"user{i}@example{i % 50}.com,mailbox_not_found\n" for i in range(5000))).encode()
    t = time.perf_counter()
    preview = suppression_csv.parse_import(data)
    t1 = time.perf_counter()
    suppression_csv.apply_import(rows=preview.payload, actor=Actor.of(lead), note="bench")
    t2 = time.perf_counter()
    print(f"\nPREVIEW {t1-t:.2f}s APPLY {t2-t1:.2f}s")
