import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The world fixture hashes seven passwords per test; PBKDF2's deliberate
    # slowness would make these view tests take minutes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
