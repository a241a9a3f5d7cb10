"""The Redis broker transport, made to outlive a Redis restart.

kombu 5.7's Redis channel touches Redis through a connection that is already gone in two places: restoring
unacknowledged messages while the broken connection is closed, and acknowledging, after the reconnect, a
message received on the old connection (a call that was live during the restart). Both open a new client on a
closed connection; the AttributeError that follows ("'NoneType' object has no attribute 'hostname'") is not a
connection error, so Celery takes it as unrecoverable and the worker exits. Here both are skipped when the
channel's connection is gone. Nothing is lost: the broker re-delivers unacknowledged messages after the
visibility timeout (the dialler's tasks are idempotent), a Redis that restarted empty has nothing to restore,
and the sweeper re-sends the dialler's work from PostgreSQL.
"""

from kombu.transport import redis


class QoS(redis.QoS):
    restore_at_shutdown = False

    def _connection_gone(self) -> bool:
        return getattr(self.channel.connection, "client", None) is None

    def ack(self, delivery_tag) -> None:
        if self._connection_gone():  # received on a connection that has since closed: forget it here only
            self._delivered.pop(delivery_tag, None)
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False) -> None:
        if self._connection_gone():
            self._delivered.pop(delivery_tag, None)
            return
        super().reject(delivery_tag, requeue=requeue)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
