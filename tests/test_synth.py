"""hum_search.demo.synth: notation, arrangement, MIDI bytes, rendering, synthetic hums, files and tags."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

from hum_search.demo import synth
from hum_search.demo.synth import Note
from hum_search.errors import HumSearchError

SR = 16000


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def autocorr_f0(x: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 1000.0) -> float:
    """f0 of a steady frame: the first autocorrelation peak within 85 % of the highest, refined by
    parabolic interpolation."""
    x = x - x.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / ac[0]
    lo, hi = int(sr / fmax), int(sr / fmin)
    seg = ac[lo:hi]
    top = seg.max()
    i = next(i for i in range(1, len(seg) - 1) if seg[i] >= 0.85 * top and seg[i - 1] <= seg[i] >= seg[i + 1])
    a, b, c = seg[i - 1], seg[i], seg[i + 1]
    return sr / (lo + i + 0.5 * (a - c) / (a - 2 * b + c))


def cents(f: float, ref: float) -> float:
    return 1200 * np.log2(f / ref)


def midi_hz(p: float) -> float:
    return 440.0 * 2 ** ((p - 69) / 12)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def parse_smf(data: bytes) -> tuple[tuple[int, int, int], list[list[tuple[int, int, bytes]]]]:
    """A small standard-MIDI-file reader: header fields and, per track, (tick, status, data) events."""
    assert data[:4] == b"MThd"
    (hlen,) = struct.unpack(">I", data[4:8])
    assert hlen == 6
    header = struct.unpack(">HHH", data[8:14])
    pos = 14
    tracks = []
    while pos < len(data):
        assert data[pos:pos + 4] == b"MTrk", f"chunk at {pos} is not MTrk"
        (length,) = struct.unpack(">I", data[pos + 4:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert len(body) == length
        pos += 8 + length
        events, i, tick = [], 0, 0
        while i < len(body):
            delta = 0
            while True:
                byte = body[i]
                i += 1
                delta = (delta << 7) | (byte & 0x7F)
                if not byte & 0x80:
                    break
            tick += delta
            status = body[i]
            assert status & 0x80, "running status is not used by our writer"
            if status == 0xFF:
                kind, mlen = body[i + 1], body[i + 2]
                events.append((tick, status, bytes([kind]) + body[i + 3:i + 3 + mlen]))
                i += 3 + mlen
            else:
                n = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
                events.append((tick, status, body[i + 1:i + 1 + n]))
                i += 1 + n
        assert events[-1][1] == 0xFF and events[-1][2][:1] == b"\x2f", "track must end with end-of-track"
        tracks.append(events)
    return header, tracks


SIMPLE = "C4 D4 E4 F4 | G4:2 r:2 | E4:0.5 D4:0.5 C4:3"


def simple_arrangement(**kw) -> synth.Arrangement:
    melody = synth.melody_to_notes(SIMPLE, bpm=120)
    opts = dict(key_root=0, mode="major", style="folk", passes=2, bpm=120, beats_per_bar=4)
    opts.update(kw)
    return synth.arrange(melody, **opts)


# --------------------------------------------------------------------------------------------------
# notation
# --------------------------------------------------------------------------------------------------
def test_note_names():
    assert synth.note_name_to_midi("C4") == 60
    assert synth.note_name_to_midi("A4") == 69
    assert synth.note_name_to_midi("F#3") == 54
    assert synth.note_name_to_midi("Bb4") == 70
    assert synth.note_name_to_midi("Cb4") == 59
    assert synth.midi_to_note_name(61) == "C#4"
    assert synth.key_root_pc("Bb") == 10 and synth.key_root_pc("F#") == 6


def test_parse_notation_details():
    p = synth.parse_notation("G3 | C4:1.5 D4:0.5 E4 - | E4:1/3 F4:1/3 G4:1/3 A4:3 |")
    assert p.bar_beats == (1.0, 4.0, 4.0)
    notes = p.notes
    assert [n.pitch for n in notes] == [55, 60, 62, 64, 64, 65, 67, 69]
    assert notes[3].beats == 2.0  # E4 tied over one more beat
    assert notes[1].start_beat == 1.0 and notes[2].start_beat == 2.5
    assert notes[-1].start_beat == pytest.approx(6.0)
    rest = synth.parse_notation("C4 r:2 D4")
    assert [e.pitch for e in rest.events] == [60, None, 62]
    assert rest.events[2].start_beat == 3.0


@pytest.mark.parametrize("bad", ["H4", "C4:0", "C4:-1", "c4", "C", "C4:x", "- C4", "r -", "C4 || D4", ""])
def test_parse_notation_rejects_typos(bad):
    with pytest.raises(ValueError):
        synth.parse_notation(bad)


def test_melody_to_notes_times_in_seconds():
    notes = synth.melody_to_notes("C4 D4:2 r E4:0.5", bpm=120)
    assert [(n.pitch, n.start_s, n.dur_s) for n in notes] == [(60, 0.0, 0.5), (62, 0.5, 1.0), (64, 2.0, 0.25)]


def test_excerpt_keeps_absolute_times():
    notes = synth.melody_to_notes(SIMPLE, bpm=120)
    ex = synth.excerpt(notes, 2, 3)
    assert ex == notes[2:5] and ex[0].start_s == 1.0
    with pytest.raises(ValueError):
        synth.excerpt(notes, 6, 5)


# --------------------------------------------------------------------------------------------------
# arrangement
# --------------------------------------------------------------------------------------------------
def test_arrangement_occurrences_say_where_every_melody_note_sounds():
    arr = simple_arrangement(passes=3, pickup_beats=0.0)
    melody = synth.melody_to_notes(SIMPLE, bpm=120)
    assert len(arr.occurrences) == 3
    bar = 4 * 0.5
    assert arr.occurrences[0].offset_s == pytest.approx(bar)  # one bar of intro
    lead = {(round(n.start_s, 6), round(n.pitch)) for t in arr.tracks if t.role == "lead" for n in t.notes}
    for occ in arr.occurrences:
        assert occ.pass_index in (0, 1, 2)
        assert occ.start_s == pytest.approx(occ.offset_s + melody[0].start_s)
        assert occ.end_s == pytest.approx(occ.offset_s + melody[-1].end_s)
        shift = arr.pass_transpose[occ.pass_index]
        for n in melody:
            assert (round(arr.song_time(n, occ.pass_index), 6), round(n.pitch + shift)) in lead
    # passes follow each other without overlap, and the song ends after the last one
    ends = [o.end_s for o in arr.occurrences]
    starts = [o.start_s for o in arr.occurrences]
    assert all(e <= s + 1e-9 for e, s in zip(ends, starts[1:]))
    assert arr.duration_s > ends[-1]
    # later passes: another instrument, and an octave shift where the range allows
    assert arr.pass_program[1] != arr.pass_program[0]
    assert arr.pass_transpose[0] == 0 and arr.pass_transpose[1] in (-12, 0, 12)


def test_arrangement_with_pickup_aligns_the_downbeat():
    melody = synth.melody_to_notes("G4 | C5:2 B4 A4 | G4:3", bpm=60)  # one-beat pickup
    arr = synth.arrange(melody, key_root=0, bpm=60, beats_per_bar=4, pickup_beats=1, intro_beats=4, style="pop")
    # intro = one bar (4 s); the pickup sounds in the last beat of the intro
    assert arr.occurrences[0].offset_s == pytest.approx(3.0)
    assert arr.song_time(melody[1]) == pytest.approx(4.0)  # first downbeat of the melody
    # the pickup of pass 2 does not overlap the end of pass 1
    assert arr.occurrences[1].start_s >= arr.occurrences[0].end_s - 1e-9


def test_harmonizer_ends_on_the_tonic_and_fits_the_melody():
    melody = synth.melody_to_notes("C4 E4 G4 E4 | F4 A4 C5 A4 | G4 B4 D5 B4 | C5:4", bpm=120)
    arr = synth.arrange(melody, key_root=0, bpm=120, passes=1, intro_beats=0, style="classical", outro_bars=0)
    chords = [pcs for _, _, pcs in arr.chords]
    assert chords == [(0, 4, 7), (5, 9, 0), (7, 11, 2), (0, 4, 7)]
    minor = synth.arrange(synth.melody_to_notes("A4 C5 E5 C5 | E4 G#4 B4:2 | A4:4", bpm=120), key_root=9,
                          mode="minor", bpm=120, passes=1, intro_beats=0, outro_bars=0)
    assert [pcs for _, _, pcs in minor.chords] == [(9, 0, 4), (4, 8, 11), (9, 0, 4)]


def test_arrange_rejects_bad_input():
    with pytest.raises(ValueError):
        synth.arrange([], key_root=0)
    with pytest.raises(ValueError):
        simple_arrangement(style="polka")
    with pytest.raises(ValueError):
        simple_arrangement(mode="lydian-ish")


# --------------------------------------------------------------------------------------------------
# MIDI
# --------------------------------------------------------------------------------------------------
def test_midi_bytes_parse_and_hold_every_note():
    arr = simple_arrangement()
    data = synth.midi_bytes(arr)
    (fmt, ntracks, division), tracks = parse_smf(data)
    assert fmt == 1 and division == 480
    assert ntracks == len(tracks) == len(arr.tracks) + 1
    tempo = [e for e in tracks[0] if e[1] == 0xFF and e[2][:1] == b"\x51"]
    assert int.from_bytes(tempo[0][2][1:], "big") == round(60e6 / arr.bpm)
    ticks_per_s = 480 * arr.bpm / 60
    for track, events in zip(arr.tracks, tracks[1:]):
        ons = [e for e in events if e[1] & 0xF0 == 0x90 and e[2][1] > 0]
        offs = [e for e in events if e[1] & 0xF0 == 0x80]
        assert len(ons) == len(offs) == len(track.notes)
        assert {e[1] & 0x0F for e in ons} == {track.channel}
        programs = [e for e in events if e[1] & 0xF0 == 0xC0]
        if track.is_drum:
            assert not programs
        else:
            assert programs[0][2][0] == track.program
        first = min(track.notes, key=lambda n: n.start_s)
        assert min(e[0] for e in ons) == round(first.start_s * ticks_per_s)
        ticks = [e[0] for e in events]
        assert ticks == sorted(ticks)
    assert max(e[0] for t in tracks for e in t) == round(arr.duration_s * ticks_per_s)


def test_vlq():
    assert synth._vlq(0) == b"\x00"
    assert synth._vlq(0x7F) == b"\x7f"
    assert synth._vlq(0x80) == b"\x81\x00"
    assert synth._vlq(0x0FFFFFFF) == b"\xff\xff\xff\x7f"


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------
def test_additive_render_is_deterministic_with_energy_where_the_notes_are():
    melody = synth.melody_to_notes("C4:2 r:2 | E4:2 r:2 | G4:2 r:2 | C5:2 r:2", bpm=120)
    arr = synth.arrange(melody, key_root=0, bpm=120, passes=1, intro_beats=4, style="classical")
    arr.tracks = [t for t in arr.tracks if t.role == "lead"]  # melody alone: silence between notes
    y1 = synth.render(arr, sr=SR, engine="additive", seed=3)
    y2 = synth.render(arr, sr=SR, engine="additive", seed=3)
    assert y1.dtype == np.float32 and len(y1) == round(arr.duration_s * SR)
    assert np.array_equal(y1, y2)
    assert 20 * np.log10(np.abs(y1).max()) == pytest.approx(-1.0, abs=0.05)
    occ = arr.occurrences[0]
    for n in melody:
        s = occ.offset_s + n.start_s
        during = y1[int((s + 0.1) * SR):int((s + 0.8) * SR)]
        after = y1[int((s + 1.3) * SR):int((s + 1.9) * SR)]
        assert rms(during) > 30 * rms(after) + 1e-6
        f = autocorr_f0(during[: int(0.3 * SR)], SR)
        assert abs(cents(f, midi_hz(n.pitch))) < 30
    assert rms(y1[: int(0.9 * occ.start_s * SR)]) < 1e-4  # intro: no lead yet


def test_additive_render_full_arrangement_has_drums_and_depends_on_seed():
    arr = simple_arrangement()
    y = synth.render(arr, sr=SR, engine="additive", seed=0)
    assert len(y) == round(arr.duration_s * SR) and np.isfinite(y).all()
    intro = y[: int(arr.occurrences[0].start_s * SR)]
    assert rms(intro) > 0.01  # accompaniment plays before the melody
    assert not np.array_equal(y, synth.render(arr, sr=SR, engine="additive", seed=1))  # drum noise


def test_render_rejects_unknown_engine():
    with pytest.raises(HumSearchError):
        synth.render(simple_arrangement(), engine="casio")


needs_fluidsynth = pytest.mark.skipif(not synth.fluidsynth_available(),
                                      reason="fluidsynth and a GM soundfont are not installed")


@needs_fluidsynth
def test_fluidsynth_render_has_the_right_length_and_sound():
    arr = simple_arrangement(passes=1)
    y = synth.render(arr, sr=22050, engine="fluidsynth")
    assert y.dtype == np.float32 and len(y) == round(arr.duration_s * 22050)
    assert np.isfinite(y).all()
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-1.0, abs=0.05)
    occ = arr.occurrences[0]
    melody_part = y[int(occ.start_s * 22050):int(occ.end_s * 22050)]
    assert rms(melody_part) > 0.02
    assert synth.render(arr, sr=22050, engine="auto").shape == y.shape


def test_fluidsynth_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    with pytest.raises(synth.SynthError, match="Fix:"):
        synth.render(simple_arrangement(), engine="fluidsynth")
    # auto falls back to the additive engine
    assert len(synth.render(simple_arrangement(passes=1), sr=8000, engine="auto")) > 0


# --------------------------------------------------------------------------------------------------
# hums
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("voice,syllable,vibrato", [("male", "mm", 0.0), ("female", "la", 25.0), ("child", "da", 25.0)])
def test_hum_of_a_steady_note_has_the_right_f0(voice, syllable, vibrato):
    note = Note(57.0, 0.0, 2.0)
    y = synth.synth_hum([note], sr=SR, voice=voice, syllable=syllable, vibrato_cents=vibrato,
                        pitch_error_cents=0.0, snr_db=None, seed=1)
    shift = synth.hum_octave_shift([note], voice)
    assert shift % 12 == 0
    frame = y[int(0.9 * SR):int(1.9 * SR)]  # lead silence 0.3 s, vibrato settled
    assert abs(cents(autocorr_f0(frame, SR), midi_hz(57 + shift))) < 30


def test_hum_transpose_and_octave():
    note = Note(60.0, 0.0, 1.5)
    y = synth.synth_hum([note], sr=SR, octave=0, transpose=3.0, vibrato_cents=0, pitch_error_cents=0,
                        snr_db=None)
    assert abs(cents(autocorr_f0(y[int(0.7 * SR):int(1.5 * SR)], SR), midi_hz(63))) < 30


def test_hum_is_deterministic_timed_and_noisy_as_asked():
    notes = synth.melody_to_notes("C4 D4 E4 C4 | C4 D4 E4 C4 | E4 F4 G4:2", bpm=100)
    kw = dict(sr=SR, seed=7, lead_silence_s=0.5)
    a = synth.synth_hum(notes, **kw)
    assert np.array_equal(a, synth.synth_hum(notes, **kw))
    assert not np.array_equal(a, synth.synth_hum(notes, sr=SR, seed=8, lead_silence_s=0.5))
    span = notes[-1].end_s - notes[0].start_s
    assert len(a) == pytest.approx((span + 1.0) * SR, abs=2)
    fast = synth.synth_hum(notes, sr=SR, tempo=1.25, lead_silence_s=0.5)
    assert len(fast) == pytest.approx((span / 1.25 + 1.0) * SR, abs=2)
    assert a.dtype == np.float32 and np.abs(a).max() <= 1.0
    # leading silence holds only the noise: about 20 dB under the hum
    clean = synth.synth_hum(notes, sr=SR, seed=7, lead_silence_s=0.5, snr_db=None)
    assert np.abs(clean[: int(0.45 * SR)]).max() == 0.0
    voiced = rms(a[int(0.6 * SR):int(2.0 * SR)])
    silence = rms(a[: int(0.45 * SR)])
    assert 12 < 20 * np.log10(voiced / silence) < 28
    for noise in ("white", "babble"):
        y = synth.synth_hum(notes[:4], sr=SR, noise=noise, snr_db=10, seed=2)
        assert np.isfinite(y).all() and rms(y[: int(0.25 * SR)]) > 0


def test_hum_breath_gaps_and_syllables_make_gaps_between_notes():
    notes = synth.melody_to_notes("C4 C4 C4 C4 | C4 C4 C4 C4", bpm=120)
    for syllable in ("la", "da"):
        y = synth.synth_hum(notes, sr=SR, syllable=syllable, snr_db=None, octave=0, seed=3)
        env = np.array([rms(y[i:i + 80]) for i in range(0, len(y) - 80, 80)])
        voiced = env > 0.1 * env.max()
        onsets = np.count_nonzero(voiced[1:] & ~voiced[:-1])
        assert onsets >= 6, syllable  # re-articulated notes, not one long tone


def test_hum_rejects_bad_options():
    n = [Note(60, 0, 1)]
    for kw in ({"syllable": "oo"}, {"noise": "brown"}, {"voice": "robot"}, {"tempo": 0}):
        with pytest.raises(ValueError):
            synth.synth_hum(n, **kw)
    with pytest.raises(ValueError):
        synth.synth_hum([])


# --------------------------------------------------------------------------------------------------
# files and tags
# --------------------------------------------------------------------------------------------------
def _tone(seconds=1.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_write_audio_soundfile_round_trip(tmp_path, ext):
    import soundfile as sf

    y = _tone()
    path = synth.write_audio(tmp_path / "sub" / f"tone.{ext}", y, SR)
    back, sr = sf.read(path, dtype="float32")
    assert sr == SR and len(back) == len(y)
    assert np.abs(back - y).max() < 1e-3
    assert [p.name for p in path.parent.iterdir()] == [f"tone.{ext}"]  # no temporary file left


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@needs_ffmpeg
@pytest.mark.parametrize("ext", ["mp3", "ogg", "m4a"])
def test_write_audio_ffmpeg_formats_decode(tmp_path, ext):
    from hum_search.features.audio import load_audio

    path = synth.write_audio(tmp_path / f"tone.{ext}", _tone(1.0), SR)
    back = load_audio(path, SR)
    assert abs(len(back) / SR - 1.0) < 0.1
    assert abs(cents(autocorr_f0(back[2000:6000], SR), 440.0)) < 30


def test_write_audio_without_ffmpeg_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    with pytest.raises(synth.AudioEncodeError) as err:
        synth.write_audio(tmp_path / "x.mp3", _tone(0.2), SR)
    assert isinstance(err.value, HumSearchError) and "ffmpeg" in str(err.value) and err.value.fix
    assert not any(tmp_path.iterdir())
    with pytest.raises(synth.AudioEncodeError):
        synth.write_audio(tmp_path / "x.xyz", _tone(0.2), SR)


@pytest.mark.parametrize("ext", ["flac", "wav", pytest.param("mp3", marks=needs_ffmpeg),
                                 pytest.param("ogg", marks=needs_ffmpeg), pytest.param("m4a", marks=needs_ffmpeg)])
def test_tags_written_and_read_back(tmp_path, ext):
    import mutagen

    path = synth.write_audio(tmp_path / f"song.{ext}", _tone(0.5), SR)
    synth.write_tags(path, title="Ode to Joy", artist="Ludwig van Beethoven", album="hum-search demo",
                     genre="Classical")
    if ext == "wav":
        tags = mutagen.File(path).tags
        got = {k: str(tags[f].text[0]) for k, f in
               (("title", "TIT2"), ("artist", "TPE1"), ("album", "TALB"), ("genre", "TCON"))}
    else:
        f = mutagen.File(path, easy=True)
        got = {k: f.tags[k][0] for k in ("title", "artist", "album", "genre")}
    assert got == {"title": "Ode to Joy", "artist": "Ludwig van Beethoven", "album": "hum-search demo",
                   "genre": "Classical"}
    if ext != "wav":
        from hum_search.indexing.tags import read_tags

        assert read_tags(path)["title"] == "Ode to Joy"
