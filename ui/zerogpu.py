"""The Train tab on a ZeroGPU Space: the job runs inside `@spaces.GPU`, in the function the
Start event calls (ZeroGPU looks for a decorated function among the events' own functions at
start-up), with a duration estimated from the recipe; it streams its progress. Elsewhere
this module is not imported and `spaces` is never loaded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import gradio as gr

from digits.keep_weights import push_weights
from digits.training.gpu import MAX_CALL_S, fits, gpu_seconds

from .state import AppState


def gpu(duration):
    """`spaces.GPU(duration=...)`: the GPU is attached only while the decorated function runs."""
    import spaces

    return spaces.GPU(duration=duration)


def gpu_training(app: AppState, config, views, poll_s: float):
    """(check, train_on_gpu): the cost check that refuses before any GPU is asked for, and the
    decorated generator that trains and yields the tab's views."""

    def check(model: str, epochs: float, batch_size: float, learning_rate: float, visitors_drawings: bool = False,
              finetune: bool = False, negatives: bool = False) -> str:
        """What the run costs in GPU time; refused, with that message, if one call cannot hold it."""
        ok, cost = fits(config(app, model, epochs, batch_size, learning_rate, visitors_drawings, finetune,
                               negatives))
        if not ok:
            raise gr.Error(cost, title="Too long for one GPU call")
        return cost

    def duration(model, epochs, batch_size, learning_rate, visitors_drawings=False, finetune=False,
                 negatives=False) -> int:
        cfg = config(app, model, epochs, batch_size, learning_rate, visitors_drawings, finetune, negatives)
        return min(gpu_seconds(cfg), MAX_CALL_S)

    @gpu(duration)
    def train_on_gpu(model: str, epochs: float, batch_size: float, learning_rate: float,
                     visitors_drawings: bool = False, finetune: bool = False, negatives: bool = False) -> Iterator:
        cfg = config(app, model, epochs, batch_size, learning_rate, visitors_drawings, finetune, negatives)
        started, message = app.job.start(cfg, in_process=True)
        if not started:
            raise gr.Error(message)
        try:
            while app.job.snapshot().active:
                yield views(app.job.snapshot())
                time.sleep(poll_s)
        except GeneratorExit:  # Cancel (or the visitor left): stop within a batch, write nothing
            app.job.cancel()
            app.job.wait(60)
            raise
        final = app.job.wait()
        if final.replaced and app.weights_remote is not None:
            push_weights(app.weights_remote, final.model, app.store.directory)
        yield views(final)

    return check, train_on_gpu
