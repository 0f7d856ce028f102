"""An embedded MongoDB emulator: the wire protocol on loopback, mongomock as the query engine.

A development and test stand-in where mongod cannot be installed, not a database: the real
driver (PyMongo under Beanie) talks to it, and several processes can share one. Whatever it
cannot answer as MongoDB would, it refuses with a MongoDB-style error naming the feature.
"""

from storage.mongo_emulator.server import Emulator, start_emulator

__all__ = ["Emulator", "start_emulator"]
