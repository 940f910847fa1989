"""A local HTTP server and small synthetic MNIST/USPS files for the fetcher tests.

The server listens on 127.0.0.1 (port chosen by the OS) in a background thread and
serves in-memory files; it answers 404 for unknown paths and, for the paths listed in
``drop``, sends the headers of the whole file but only half of its body before closing
the connection. Every request path is logged in ``requests``.
"""

import bz2
import gzip
import hashlib
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

MNIST_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
USPS_NAMES = ("usps.bz2", "usps.t.bz2")


class LocalServer:
    """Serve ``files`` (``{"/path": bytes}``) on 127.0.0.1 until :meth:`stop`."""

    def __init__(self):
        self.files = {}
        self.drop = set()
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "File not found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.drop:
                    # Announce the whole body, send half of it, close the connection.
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def url(self, prefix):
        """The base URL of the directory ``/prefix/``."""
        return f"http://127.0.0.1:{self.port}/{prefix}/"

    def add(self, prefix, files):
        """Serve each ``{name: bytes}`` of ``files`` under ``/prefix/name``."""
        for name, body in files.items():
            self.files[f"/{prefix}/{name}"] = body

    def stop(self):
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def md5(data):
    return "md5:" + hashlib.md5(data).hexdigest()


# -- synthetic data in the real formats ----------------------------------------------------
def mnist_files(n_train=5, n_test=3, seed=0):
    """Gzipped IDX files of random 28x28 images; returns ``(files, arrays)``."""
    rng = np.random.RandomState(seed)
    X_train = rng.randint(0, 256, size=(n_train, 28, 28)).astype(np.uint8)
    X_test = rng.randint(0, 256, size=(n_test, 28, 28)).astype(np.uint8)
    y_train = rng.randint(0, 10, size=n_train).astype(np.uint8)
    y_test = rng.randint(0, 10, size=n_test).astype(np.uint8)

    def images(x):
        return struct.pack(">IIII", 0x00000803, *x.shape) + x.tobytes()

    def labels(y):
        return struct.pack(">II", 0x00000801, len(y)) + y.tobytes()

    payloads = (images(X_train), labels(y_train), images(X_test), labels(y_test))
    files = {name: gzip.compress(p, mtime=0) for name, p in zip(MNIST_NAMES, payloads)}
    return files, (X_train, y_train, X_test, y_test)


def _libsvm(X, labels):
    """LIBSVM text: ``label index:value ...`` with 1-based indices; zeros left out."""
    lines = []
    for row, label in zip(X, labels):
        entries = " ".join(f"{j + 1}:{v:.4f}" for j, v in enumerate(row) if v != 0)
        lines.append(f"{label} {entries}\n")
    return "".join(lines).encode()


def usps_files(n_train=6, n_test=4, seed=0):
    """bz2-compressed LIBSVM files as the LIBSVM site stores USPS: pixels in [-1, 1],
    labels 1-10. Returns ``(files, raw)`` with ``raw = (X_train, l_train, X_test,
    l_test)``, the [-1, 1] pixels (as written, 4 decimals) and the 1-10 labels.
    """
    rng = np.random.RandomState(seed)
    X = np.round(rng.uniform(-1, 1, size=(n_train + n_test, 256)), 4)
    X[0, :3] = (-1.0, 1.0, 0.0)  # both ends of the range, and a zero left out
    X[1, 10:20] = 0.0
    labels = rng.randint(1, 11, size=n_train + n_test)
    labels[:2] = (1, 10)  # both ends of the label range
    files = {
        "usps.bz2": bz2.compress(_libsvm(X[:n_train], labels[:n_train])),
        "usps.t.bz2": bz2.compress(_libsvm(X[n_train:], labels[n_train:])),
    }
    return files, (X[:n_train], labels[:n_train], X[n_train:], labels[n_train:])
