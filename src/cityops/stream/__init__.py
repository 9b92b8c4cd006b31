"""The city's event stream (issue 20): a transactional outbox published to NATS JetStream (and
Kafka), and readings in through a JetStream durable consumer. See docs/stream.md."""
