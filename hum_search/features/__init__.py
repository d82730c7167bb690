"""Audio in, features out: decoding (``audio``), the pitch tracker (``pitch``), contours and segment
vectors (``melody``), the PANNs sound embedding (``sound``), and ``extract``, which runs them on a
song (``song_melody``: where a song's melody is extracted) or on a hum. Never imports ``store``."""
