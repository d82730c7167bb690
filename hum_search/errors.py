"""One exception hierarchy for the whole project.

Every message states the cause and a fix, in one line, so that the CLI and the web app can show it
to a person without a traceback.
"""

from __future__ import annotations


class HumSearchError(Exception):
    """Base class. ``str(err)`` is a complete one-line message: cause, then what to do."""

    def __init__(self, cause: str, fix: str | None = None):
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause}. Fix: {fix}" if fix else cause)


def one_line(text: object) -> str:
    """A message squeezed onto one line (white space, newlines included, folded to single spaces)."""
    return " ".join(str(text).split())


# --- input audio --------------------------------------------------------------------------------
class AudioError(HumSearchError):
    """The audio could not be used (file problems, decoding, content)."""


class AudioFileError(AudioError):
    """The file is missing, unreadable or empty."""


class DecodeError(AudioError):
    """The bytes are not audio we can decode (corrupt, truncated, not audio at all)."""


class SilentAudioError(AudioError):
    """Zero-length or silent audio."""


class AudioTooLongError(AudioError):
    """The audio is longer than the configured limit."""


class NoMelodyError(AudioError):
    """A query in which too little voiced (pitched) sound was heard."""


class AudioEncodeError(AudioError):
    """Audio could not be written (encoder missing or failing, unsupported format)."""


class SynthError(AudioError):
    """A renderer failed (fluidsynth missing or failing, bad notation)."""


# --- models ---------------------------------------------------------------------------------------
class ModelError(HumSearchError):
    """A model could not be loaded or is not available."""


class ModelUnavailableError(ModelError):
    """The model's weights are not present (e.g. offline without a checkpoint)."""


class ChecksumError(ModelError):
    """A downloaded or provided weights file does not have the expected SHA-256."""


# --- stores ---------------------------------------------------------------------------------------
class StoreError(HumSearchError):
    """The index store failed."""


class StoreFormatError(StoreError):
    """The store was written by another format version or with other models/parameters."""


class StoreNotFoundError(StoreError):
    """No index exists at the given location."""


class BackendUnavailableError(StoreError):
    """A store server (Elasticsearch) could not be reached or refused the request."""


# --- devices ----------------------------------------------------------------------------------------
class DeviceError(HumSearchError):
    """A hardware device (microphone, CUDA) is not available."""
