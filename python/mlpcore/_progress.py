"""fit's console output. verbose=1: a progress bar per epoch, redrawn about 8 times a second
by a Python thread that reads the engine's Progress counter (samples done, updated by the
engine after every step) while the epoch runs in C++ without the GIL: the training loop
never calls into Python per batch. verbose=2: one line per epoch.

    epoch 3/10 [=========>          ] 4096/8192 samples  32/64 batches  51.2k samples/s
        0:01 left  loss 0.4312                                                  (one line)

The engine also keeps the running epoch's mean loss over the steps done (Progress.loss): the
bar shows it while the epoch runs, and the epoch's loss and metrics when it ends.

verbose="auto" (fit's default): silent unless stdout is a terminal, and there silent until the
fit proves long: the bar appears once an epoch has run for AUTO_AFTER seconds, or from the
second epoch on when the first one's time times the epochs to go exceeds AUTO_LONG_FIT
seconds; from then on it is verbose=1. Short fits (tests, scripts, the XOR example) print
nothing; a long fit in a terminal shows its progress, as Keras' default does.

Epochs are labelled with Keras' numbering: "epoch e+1/epochs" for the epoch of index e (an
initial_epoch=5 fit starts at "epoch 6/10").
"""

import _thread
import sys
import threading
import time

_WIDTH = 24
_INTERVAL = 0.125  # seconds between redraws
AUTO_AFTER = 2.0  # verbose="auto": an epoch running this long shows the bar
AUTO_LONG_FIT = 10.0  # verbose="auto": a fit estimated this long shows the bar


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _rate(x):
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"


def _clock(s):
    s = int(s + 0.5)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _duration(s):
    return f"{s * 1e3:.1f}ms" if s < 1 else f"{s:.2f}s"


def format_logs(logs):
    skip = ("epoch", "time")
    parts = [
        f"{k} {v:.4g}" for k, v in logs.items() if k not in skip and not k.startswith("grad_norm_")
    ]
    return "  ".join(parts)


class Printer:
    """Draws fit's output on `stream` (sys.stdout by default) for verbose 1 or 2."""

    def __init__(self, verbose, epochs, n_samples, batch_size, stream=None):
        self.epochs, self.n = epochs, n_samples
        self.batch_size = batch_size
        self.stream = stream or sys.stdout
        # "auto": verbose=1 once the fit proves long (self._armed), on a terminal only
        self.auto = isinstance(verbose, str)
        self._armed = self.auto and _is_terminal(self.stream)
        self.verbose = 0 if self.auto else verbose
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._epoch = None  # (label, progress, start time) of the running epoch, or None
        self._last_loss = None
        self._thread = None
        self._width = 0

    # ---- the drawing thread (verbose=1) ------------------------------------------------
    @property
    def wants_progress(self):
        """Whether the engine should count the running epoch's samples for a bar."""
        return self.verbose == 1 or self._armed

    def _go_verbose(self):
        self.verbose, self._armed = 1, False

    def start(self):
        # _thread.start_new_thread does not wait for the thread to be scheduled (Thread.start
        # does: milliseconds per fit on a loaded machine); the thread ends at its next wake
        # after stop() and never draws once the epoch is over (_epoch is None under the lock)
        if self.verbose == 1 or self._armed:
            self._thread = _thread.start_new_thread(self._run, ())

    def stop(self):
        self._stop.set()
        with self._lock:
            self._epoch = None

    def _run(self):
        while not self._stop.wait(_INTERVAL):
            with self._lock:
                if self._epoch is not None:
                    if self._armed and time.perf_counter() - self._epoch[2] >= AUTO_AFTER:
                        self._go_verbose()  # a long epoch: show it
                    if self.verbose == 1:
                        self._draw(*self._epoch)

    def _write(self, text, end=""):
        pad = max(0, self._width - len(text)) if end == "" or text.startswith("\r") else 0
        self.stream.write(text + " " * pad + end)
        self.stream.flush()
        self._width = 0 if end else len(text)

    def _draw(self, label, progress, start):
        done, total = progress.done, progress.total or self.n
        elapsed = time.perf_counter() - start
        frac = done / total if total else 0.0
        filled = int(frac * _WIDTH)
        bar = "=" * filled + (">" if filled < _WIDTH else "") + " " * (_WIDTH - filled - 1)
        batches = -(-total // self.batch_size)
        speed = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / speed if speed > 0 else float("nan")
        line = (
            f"\r{label} [{bar[:_WIDTH]}] {done}/{total} samples  "
            f"{min(-(-done // self.batch_size), batches)}/{batches} batches  "
            f"{_rate(speed)} samples/s  "
            + (f"{_clock(left)} left" if left == left else "--:-- left")
        )
        running = getattr(progress, "loss", float("nan"))
        if running == running:
            line += f"  loss {running:.4g}"
        elif self._last_loss is not None:
            line += f"  loss {self._last_loss:.4g} (last epoch)"
        self._write(line)

    # ---- called by the fit loop --------------------------------------------------------
    def epoch_begin(self, epoch, progress):
        """epoch: the index of the epoch that starts (Keras' numbering)."""
        if self.verbose == 1 or self._armed:
            with self._lock:
                self._epoch = (f"epoch {epoch + 1}/{self.epochs}", progress, time.perf_counter())

    def epoch_end(self, epoch, logs, seconds):
        label = f"epoch {epoch + 1}/{self.epochs}"
        if self._armed:
            with self._lock:
                self._epoch = None
                if seconds >= AUTO_AFTER or seconds * (self.epochs - epoch - 1) >= AUTO_LONG_FIT:
                    self._go_verbose()  # a long fit: this epoch's line, then the bar
        if self.verbose == 1:
            with self._lock:
                self._epoch = None
                self._last_loss = logs["loss"]
                speed = self.n / seconds if seconds > 0 else 0.0
                self._write(
                    f"\r{label} [{'=' * _WIDTH}] {self.n}/{self.n} samples  "
                    f"{_rate(speed)} samples/s  {_duration(seconds)}  " + format_logs(logs),
                    end="\n",
                )
        elif self.verbose == 2:
            self._write(f"{label}  {_duration(seconds)}  " + format_logs(logs), end="\n")

    def epoch_failed(self):
        if self.verbose == 1:
            with self._lock:
                self._epoch = None
                if self._width:
                    self._write("", end="\n")
