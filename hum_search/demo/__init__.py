"""The demo collection: public-domain tunes in a compact notation, arranged and rendered as songs
with accompaniment, plus synthetic hums.

One role per module, imports only downward in this list:
  notation.py     Note, the text notation, note names, melody_to_notes, excerpt
  tunes.py        Tune and the tune list TUNES / TUNES_BY_SLUG
  harmony.py      chords of a key, harmonize (a chord per bar)
  arrange.py      Track, Occurrence, Arrangement, arrange (a melody into a song)
  midi.py         standard MIDI file bytes
  dsp.py          normalize, high-passed noise (shared by the two below)
  additive.py     the numpy synthesizer;   render.py   render (fluidsynth or additive), soundfont lookup
  hum.py          synth_hum (synthetic hummed queries)
  audio_files.py  write_audio, write_tags
  catalogue.py    build_demo_catalogue, catalogue.json, hum_spec (the example hums)
"""
