"""The domain of the no-writing counter: catalog, cases, queues, privacy, configuration.

Never imports Flask; functions take a SQLAlchemy ``Session`` and never commit.
"""
