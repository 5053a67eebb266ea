"""office-schedule: record, store, exchange and analyse the free slots of German public offices."""

__version__ = "0.1.0"
