"""A dataset picker for notebooks: a folder (typed, or one of the bundled samples), an encoding
and an **Open** button; the dataset is opened as every verb opens it
(:func:`workbench.open_dataset`) and handed to the widgets that follow it."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from workbench.data.dataset import ENCODINGS, open_dataset
from workbench.errors import WorkbenchError
from workbench.paths import SAMPLES

__all__ = ["DatasetPicker"]


class DatasetPicker(W.VBox):
    """``folder`` (Combobox: any path, the bundled samples offered), ``encoding`` (Dropdown,
    "" = detected), ``open_button`` (Button), ``status`` (HTML: the dataset's summary or the
    one-line error naming the folder or option). ``dataset`` is the last dataset opened;
    callbacks given to :meth:`on_open` receive it.
    """

    def __init__(self, dataset=None):
        samples = sorted(str(p) for p in SAMPLES.iterdir() if p.is_dir())
        self.dataset = dataset
        self.folder = W.Combobox(
            value=str(dataset.root) if dataset is not None else "",
            options=samples,
            placeholder="/path/to/your/dataset",
            description="dataset",
            ensure_option=False,
            layout={"width": "520px"},
        )
        self.encoding = W.Dropdown(options=[""] + list(ENCODINGS), value="", description="encoding")
        self.open_button = W.Button(description="Open", button_style="primary")
        self.status = W.HTML(dataset.summary() if dataset is not None else "")
        self._callbacks: list[Callable] = []
        self.open_button.on_click(lambda _: self.load())
        super().__init__([W.HBox([self.folder, self.encoding, self.open_button]), self.status])

    def on_open(self, callback: Callable) -> None:
        """Call ``callback(dataset)`` after each successful open."""
        self._callbacks.append(callback)

    def load(self) -> bool:
        """Open the chosen folder; returns whether it opened (else ``status`` says why)."""
        try:
            ds = open_dataset(self.folder.value.strip(), encoding=self.encoding.value)
        except WorkbenchError as e:
            self.status.value = f"<b>cannot open</b>: {e}"
            return False
        self.dataset = ds
        self.status.value = ds.summary()
        for cb in self._callbacks:
            cb(ds)
        return True
