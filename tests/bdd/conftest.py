"""What every story shares: a dict the steps pass along, and a real webhook receiver when a story needs one."""

import pytest
from support.receiver import Receiver


@pytest.fixture
def story():
    return {}


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()
