"""One progress display per fit (``verbose=1``).

A fit goes through phases: pretraining, the initial clustering, the clustering phase.
:func:`fit_progress` opens one display for a whole fit, nested fits (the autoencoder a
clusterer pretrains) included; :func:`train <skdeepcluster._training.train>` reports
each epoch to it and the initial clustering announces itself. On a terminal or in
Jupyter the display is one ``tqdm`` bar (phase, epoch, loss, label change, elapsed and
the phase's remaining time); elsewhere (logs, CI) it is plain lines, at most one a
second and the last epoch of each phase.
"""

import sys
import threading
import time
from contextlib import contextmanager

_current = threading.local()


def _fmt_time(seconds):
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _interactive(stream):
    """A terminal, or a Jupyter kernel (whose streams are not terminals)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """The display of one fit; see the module's docstring.

    Parameters
    ----------
    name : str
        What is being fitted (the estimator's class name).
    stream : file-like, default=None
        Where to write; ``None`` is ``sys.stderr`` at the time of writing.
    interval : float, default=1.0
        Smallest time in seconds between two plain lines within a phase.
    """

    def __init__(self, name, stream=None, interval=1.0):
        self.name, self.stream, self.interval = name, stream, interval
        self.start = time.perf_counter()
        self._bar = None
        self._phase = None

    def _out(self):
        return sys.stderr if self.stream is None else self.stream

    def phase(self, name, total=None, done=0):
        """Start phase ``name`` of ``total`` epochs (None: one step), ``done`` of them
        already run (a resumed fit)."""
        self._phase = dict(name=name, total=total, done=done, start=time.perf_counter(),
                           first=done, last_line=None)
        if _interactive(self._out()):
            from tqdm.auto import tqdm

            if self._bar is None:
                self._bar = tqdm(total=total, initial=done, file=self.stream, unit="epoch",
                                 desc=f"{self.name} {name}", dynamic_ncols=True, leave=True)
            elif total is not None:  # a phase of epochs: the bar counts them afresh
                self._bar.reset(total=total)
                self._bar.update(done)
            self._bar.set_postfix({}, refresh=False)
            self._bar.set_description(f"{self.name} {name}")
        else:
            self._line(f"{name}" + ("" if total is None else f": {total} epochs")
                       + (f", resuming after epoch {done}" if done else ""))

    def epoch(self, epoch, **values):
        """Epoch ``epoch`` (1-based, of the current phase) ended with ``values``."""
        phase = self._phase
        if phase is None:
            return
        phase["done"] = epoch
        shown = {k: f"{v:.4g}" for k, v in values.items() if v is not None}
        if self._bar is not None:
            self._bar.set_postfix(shown, refresh=False)
            self._bar.update(epoch - self._bar.n)
            return
        now = time.perf_counter()
        last = epoch >= (phase["total"] or 0)
        if not last and phase["last_line"] is not None \
                and now - phase["last_line"] < self.interval:
            return
        phase["last_line"] = now
        ran = epoch - phase["first"]
        remaining = ""
        if phase["total"] and ran > 0 and not last:
            eta = (now - phase["start"]) / ran * (phase["total"] - epoch)
            remaining = f", remaining {_fmt_time(eta)}"
        self._line(f"{phase['name']} epoch {epoch}/{phase['total']}"
                   + "".join(f" {k}={v}" for k, v in shown.items()) + remaining)

    def _line(self, text):
        elapsed = _fmt_time(time.perf_counter() - self.start)
        print(f"[{self.name}] {text} (elapsed {elapsed})", file=self._out(), flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._line("done")


@contextmanager
def fit_progress(estimator):
    """The display of ``estimator``'s fit while it runs: a new one when ``verbose == 1``
    and no fit encloses this one, the enclosing fit's when there is one, else none."""
    outer = getattr(_current, "progress", None)
    if outer is not None or getattr(estimator, "verbose", 0) != 1:
        yield outer
        return
    progress = _current.progress = Progress(type(estimator).__name__)
    try:
        yield progress
    finally:
        _current.progress = None
        progress.close()


def current():
    """The display of the fit running in this thread, or None."""
    return getattr(_current, "progress", None)
