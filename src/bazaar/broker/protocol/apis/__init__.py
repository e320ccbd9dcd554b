"""One codec module per Kafka API key: request decoder, response encoder, versions."""
