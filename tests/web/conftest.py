"""Fixtures the web tests share with the channel tests."""

from tests.integrations.test_twilio import twilio  # noqa: F401 - the same running Twilio desk
