"""Transactional producers against a real broker process, with unmodified clients."""

from __future__ import annotations

import pytest

from bazaar.broker import BrokerProcess


def test_transactional_id_is_refused_at_once(broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaError, KafkaException, Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "t-1"})
    with pytest.raises(KafkaException) as raised:
        producer.init_transactions(60)
    error = raised.value.args[0]
    assert error.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, error
    assert error.fatal()
