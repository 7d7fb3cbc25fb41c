"""The database-backed job queue (outbox) that ``exchange worker`` drains."""
