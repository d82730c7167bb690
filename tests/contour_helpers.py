"""Contours written as notes, for the representation and alignment tests."""

from __future__ import annotations

import numpy as np

from hum_search.features import melody


def contour_of(pitches, note_s: float = 0.3) -> np.ndarray:
    """A contour at melody.CONTOUR_FPS holding each pitch (MIDI) for ``note_s`` seconds."""
    return np.repeat(np.asarray(pitches, np.float32), int(note_s * melody.CONTOUR_FPS))
