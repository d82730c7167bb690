"""The demo's public-domain tunes, as written: ``Tune`` and the list ``TUNES`` (``TUNES_BY_SLUG``).

Each tune is a ``Tune``: title, composer (or "Traditional"), key, mode, meter, tempo, genre and the
melody in the notation of ``notation.parse_notation``: note names with octave (C4 = middle C),
``:beats`` durations (default one beat), ``r`` rests, ``-`` ties, ``|`` bar lines. A beat is the
unit the tune's ``beats_per_bar`` and ``bpm`` count in (a quarter note unless ``beat`` says another).
The genre picks the arrangement style (``GENRE_STYLE``) and the catalogue folder the song goes into.
"""

from __future__ import annotations

from dataclasses import dataclass

from .notation import Note, ParsedMelody, key_root_pc, melody_to_notes, parse_notation

GENRE_STYLE = {"Classical": "classical", "Folk": "folk", "Children": "pop", "Holiday": "pop", "Gospel": "gospel"}


@dataclass(frozen=True)
class Tune:
    slug: str
    title: str
    artist: str  # composer, or "Traditional"
    genre: str  # the genre tag, and the folder of the catalogue the song goes into
    key: str  # tonic, e.g. "D", "Bb", "F#"
    mode: str  # major or minor
    meter: str  # as written, e.g. "3/4" or "6/8"
    beats_per_bar: int  # in the notation's beats
    bpm: float  # notation beats per minute
    notation: str
    beat: str = "quarter"  # what one notation beat is
    lead_program: int = 73  # General MIDI program of the first pass (73 = flute)
    excerpt: bool = False  # an opening of a longer piece that does not end on the tonic
    note: str = ""

    @property
    def key_root(self) -> int:
        return key_root_pc(self.key)

    @property
    def style(self) -> str:
        return GENRE_STYLE[self.genre]

    @property
    def parsed(self) -> ParsedMelody:
        return parse_notation(self.notation)

    @property
    def pickup_beats(self) -> float:
        first = self.parsed.bar_beats[0]
        return first if first < self.beats_per_bar - 1e-9 else 0.0

    @property
    def pulse_beats(self) -> float:
        return {"eighth": 3.0 if self.meter in ("6/8", "9/8", "12/8") else 2.0, "sixteenth": 2.0}.get(self.beat, 1.0)

    def notes(self, *, bpm: float | None = None) -> list[Note]:
        return melody_to_notes(self, bpm=bpm)


def _t(text: str) -> str:
    return " ".join(text.split())


TUNES: list[Tune] = [
    # ---------------------------------------------------------------- classical
    Tune("ode-to-joy", "Ode to Joy", "Ludwig van Beethoven", "Classical", "D", "major", "4/4", 4, 112, _t("""
        F#4 F#4 G4 A4 | A4 G4 F#4 E4 | D4 D4 E4 F#4 | F#4:1.5 E4:0.5 E4:2 |
        F#4 F#4 G4 A4 | A4 G4 F#4 E4 | D4 D4 E4 F#4 | E4:1.5 D4:0.5 D4:2 |
        E4 E4 F#4 D4 | E4 F#4:0.5 G4:0.5 F#4 D4 | E4 F#4:0.5 G4:0.5 F#4 E4 | D4 E4 A3:2 |
        F#4 F#4 G4 A4 | A4 G4 F#4 E4 | D4 D4 E4 F#4 | E4:1.5 D4:0.5 D4:2"""),
        note="Symphony No. 9, finale theme"),
    Tune("fur-elise", "Für Elise (opening)", "Ludwig van Beethoven", "Classical", "A", "minor", "3/8", 6, 260, _t("""
        E5 D#5 | E5 D#5 E5 B4 D5 C5 | A4:2 r C4 E4 A4 | B4:2 r E4 G#4 B4 | C5:2 r E4 E5 D#5 |
        E5 D#5 E5 B4 D5 C5 | A4:2 r C4 E4 A4 | B4:2 r E4 C5 B4 | A4:4"""),
        beat="sixteenth", lead_program=0),
    Tune("brahms-lullaby", "Lullaby (Wiegenlied)", "Johannes Brahms", "Classical", "C", "major", "3/4", 3, 84, _t("""
        E4:0.5 E4:0.5 | G4:2 E4:0.5 E4:0.5 | G4:2 E4:0.5 G4:0.5 | C5 B4:1.5 A4:0.5 | A4 G4 D4:0.5 E4:0.5 |
        F4 D4 D4:0.5 E4:0.5 | F4:2 D4:0.5 F4:0.5 | B4:0.5 A4:0.5 G4 B4 | C5:2"""),
        note="Op. 49 No. 4, first two phrases"),
    Tune("minuet-in-g", "Minuet in G", "Christian Petzold", "Classical", "G", "major", "3/4", 3, 120, _t("""
        D5 G4:0.5 A4:0.5 B4:0.5 C5:0.5 | D5 G4 G4 | E5 C5:0.5 D5:0.5 E5:0.5 F#5:0.5 | G5 G4 G4 |
        C5 D5:0.5 C5:0.5 B4:0.5 A4:0.5 | B4 C5:0.5 B4:0.5 A4:0.5 G4:0.5 | F#4 G4:0.5 A4:0.5 B4:0.5 G4:0.5 | A4:3 |
        D5 G4:0.5 A4:0.5 B4:0.5 C5:0.5 | D5 G4 G4 | E5 C5:0.5 D5:0.5 E5:0.5 F#5:0.5 | G5 G4 G4 |
        C5 D5:0.5 C5:0.5 B4:0.5 A4:0.5 | B4 C5:0.5 B4:0.5 A4:0.5 G4:0.5 | A4 B4:0.5 A4:0.5 G4:0.5 F#4:0.5 | G4:3"""),
        lead_program=6, note="BWV Anh. 114, long attributed to J. S. Bach"),
    Tune("eine-kleine-nachtmusik", "Eine kleine Nachtmusik (opening)", "Wolfgang Amadeus Mozart", "Classical",
         "G", "major", "4/4", 4, 132, _t("""
        G4 r:0.5 D4:0.5 G4 r:0.5 D4:0.5 | G4:0.5 D4:0.5 G4:0.5 B4:0.5 D5:2 |
        C5 r:0.5 A4:0.5 C5 r:0.5 A4:0.5 | C5:0.5 A4:0.5 F#4:0.5 A4:0.5 D4:2"""),
        lead_program=40, excerpt=True, note="K. 525, first movement, bars 1-4"),
    Tune("hall-of-the-mountain-king", "In the Hall of the Mountain King (opening)", "Edvard Grieg", "Classical",
         "B", "minor", "4/4", 4, 116, _t("""
        B3:0.5 C#4:0.5 D4:0.5 E4:0.5 F#4:0.5 D4:0.5 F#4 | F4:0.5 C#4:0.5 F4 E4:0.5 C4:0.5 E4 |
        B3:0.5 C#4:0.5 D4:0.5 E4:0.5 F#4:0.5 D4:0.5 F#4:0.5 B4:0.5 | A4:0.5 F#4:0.5 D4:0.5 F#4:0.5 A4:2 |
        B3:0.5 C#4:0.5 D4:0.5 E4:0.5 F#4:0.5 D4:0.5 F#4 | F4:0.5 C#4:0.5 F4 E4:0.5 C4:0.5 E4 |
        B3:0.5 C#4:0.5 D4:0.5 E4:0.5 F#4:0.5 D4:0.5 F#4:0.5 B4:0.5 | A4:0.5 F#4:0.5 D4:0.5 F#4:0.5 A4:2"""),
        lead_program=70, excerpt=True, note="Peer Gynt Suite No. 1; F4 is written E#4"),
    # ---------------------------------------------------------------- children
    Tune("twinkle-twinkle", "Twinkle, Twinkle, Little Star", "Traditional", "Children", "C", "major", "4/4", 4, 100, _t("""
        C4 C4 G4 G4 | A4 A4 G4:2 | F4 F4 E4 E4 | D4 D4 C4:2 |
        G4 G4 F4 F4 | E4 E4 D4:2 | G4 G4 F4 F4 | E4 E4 D4:2 |
        C4 C4 G4 G4 | A4 A4 G4:2 | F4 F4 E4 E4 | D4 D4 C4:2"""),
        note='melody of "Ah! vous dirai-je, maman"'),
    Tune("frere-jacques", "Frère Jacques", "Traditional", "Children", "F", "major", "4/4", 4, 112, _t("""
        F4 G4 A4 F4 | F4 G4 A4 F4 | A4 Bb4 C5:2 | A4 Bb4 C5:2 |
        C5:0.5 D5:0.5 C5:0.5 Bb4:0.5 A4 F4 | C5:0.5 D5:0.5 C5:0.5 Bb4:0.5 A4 F4 | F4 C4 F4:2 | F4 C4 F4:2""")),
    Tune("mary-had-a-little-lamb", "Mary Had a Little Lamb", "Traditional", "Children", "C", "major", "4/4", 4, 116, _t("""
        E4 D4 C4 D4 | E4 E4 E4:2 | D4 D4 D4:2 | E4 G4 G4:2 |
        E4 D4 C4 D4 | E4 E4 E4 E4 | D4 D4 E4 D4 | C4:4"""),
        lead_program=71),
    Tune("london-bridge", "London Bridge Is Falling Down", "Traditional", "Children", "C", "major", "4/4", 4, 112, _t("""
        G4:1.5 A4:0.5 G4 F4 | E4 F4 G4:2 | D4 E4 F4:2 | E4 F4 G4:2 |
        G4:1.5 A4:0.5 G4 F4 | E4 F4 G4:2 | D4:2 G4:2 | E4 C4:3""")),
    Tune("row-your-boat", "Row, Row, Row Your Boat", "Traditional", "Children", "C", "major", "6/8", 6, 200, _t("""
        C4:3 C4:3 | C4:2 D4 E4:3 | E4:2 D4 E4:2 F4 | G4:6 |
        C5 C5 C5 G4 G4 G4 | E4 E4 E4 C4 C4 C4 | G4:2 F4 E4:2 D4 | C4:6"""),
        beat="eighth", lead_program=71),
    Tune("old-macdonald", "Old MacDonald Had a Farm", "Traditional", "Children", "G", "major", "4/4", 4, 120, _t("""
        G4 G4 G4 D4 | E4 E4 D4:2 | B4 B4 A4 A4 | G4:3 D4 |
        G4 G4 G4 D4 | E4 E4 D4:2 | B4 B4 A4 A4 | G4:4"""),
        lead_program=74),
    Tune("this-old-man", "This Old Man", "Traditional", "Children", "C", "major", "4/4", 4, 116, _t("""
        G4 E4 G4:2 | G4 E4 G4:2 | A4 G4 F4 E4 | D4 E4 F4:2 |
        E4:0.5 F4:0.5 G4 C4 C4:0.5 C4:0.5 | C4 C4:0.5 D4:0.5 E4:0.5 F4:0.5 G4 |
        G4 D4:0.5 D4:0.5 F4 E4:0.5 D4:0.5 | C4:4"""),
        lead_program=71),
    # ---------------------------------------------------------------- folk
    Tune("greensleeves", "Greensleeves", "Traditional", "Folk", "E", "minor", "3/4", 3, 104, _t("""
        E4 | G4:2 A4 | B4:1.5 C5:0.5 B4 | A4:2 F#4 | D4:1.5 E4:0.5 F#4 | G4:2 E4 | E4:1.5 D#4:0.5 E4 | F#4:2 D#4 | B3:2 E4 |
        G4:2 A4 | B4:1.5 C5:0.5 B4 | A4:2 F#4 | D4:1.5 E4:0.5 F#4 | G4:1.5 F#4:0.5 E4 | D#4:1.5 C#4:0.5 D#4 | E4:3 |
        D5:3 | D5:1.5 C#5:0.5 B4 | A4:2 F#4 | D4:1.5 E4:0.5 F#4 | G4:2 E4 | E4:1.5 D#4:0.5 E4 | F#4:2 D#4 | B3:3 |
        D5:3 | D5:1.5 C#5:0.5 B4 | A4:2 F#4 | D4:1.5 E4:0.5 F#4 | G4:1.5 F#4:0.5 E4 | D#4:1.5 C#4:0.5 D#4 | E4:3"""),
        lead_program=74, note="verse and refrain"),
    Tune("oh-susanna", "Oh! Susanna", "Stephen Foster", "Folk", "C", "major", "2/4", 4, 220, _t("""
        C4 D4 | E4 G4 G4:1.5 A4:0.5 | G4 E4 C4:1.5 D4:0.5 | E4 E4 D4 C4 | D4:2 C4 D4 |
        E4 G4 G4:1.5 A4:0.5 | G4 E4 C4:1.5 D4:0.5 | E4 E4 D4 D4 | C4:2 r:2 |
        F4:2 F4:2 | A4 A4:2 A4 | G4 G4 E4 C4 | D4:2 C4 D4 |
        E4 G4 G4:1.5 A4:0.5 | G4 E4 C4:1.5 D4:0.5 | E4 E4 D4 D4 | C4:2"""),
        beat="eighth", lead_program=40, note="verse and chorus"),
    Tune("yankee-doodle", "Yankee Doodle", "Traditional", "Folk", "C", "major", "2/4", 4, 240, _t("""
        C4 C4 D4 E4 | C4 E4 D4 G3 | C4 C4 D4 E4 | C4:2 B3:2 |
        C4 C4 D4 E4 | F4 E4 D4 C4 | B3 G3 A3 B3 | C4:2 C4:2 |
        A4:1.5 B4:0.5 A4 G4 | A4 B4 C5:2 | G4:1.5 A4:0.5 G4 F4 | E4:2 G4:2 |
        A4:1.5 B4:0.5 A4 G4 | A4 B4 C5 A4 | G4 C5 B4 D5 | C5:2 C5:2"""),
        beat="eighth", lead_program=72, note="verse and chorus"),
    Tune("camptown-races", "Camptown Races", "Stephen Foster", "Folk", "C", "major", "2/4", 4, 240, _t("""
        G4 G4 E4 G4 | A4 G4 E4:2 | E4 D4:2 r | E4 D4:2 r |
        G4 G4 E4 G4 | A4 G4 E4:2 | D4:2 E4 D4 | C4:4"""),
        beat="eighth", lead_program=40, note="verse"),
    Tune("clementine", "Oh My Darling, Clementine", "Traditional", "Folk", "C", "major", "3/4", 3, 120, _t("""
        C4:0.75 C4:0.25 | C4 G3 E4:0.75 E4:0.25 | E4 C4 C4:0.75 E4:0.25 | G4 G4 F4:0.75 E4:0.25 | D4:2 D4:0.75 E4:0.25 |
        F4 F4 E4:0.75 D4:0.25 | E4 C4 C4:0.75 E4:0.25 | D4 G3 B3:0.75 D4:0.25 | C4:2"""),
        lead_program=71),
    Tune("my-bonnie", "My Bonnie Lies over the Ocean", "Traditional", "Folk", "F", "major", "3/4", 3, 132, _t("""
        C4 | A4:1.5 G4:0.5 F4 | G4 F4 D4 | C4 A3:2 | -:2 C4 |
        A4:1.5 G4:0.5 F4 | F4 E4 F4 | G4:3 | -:2 C4 |
        A4:1.5 G4:0.5 F4 | G4 F4 D4 | C4 A3:2 | -:2 C4 |
        D4 G4 F4 | E4 D4 E4 | F4:3 | -:2"""),
        lead_program=68),
    # ---------------------------------------------------------------- holiday
    Tune("happy-birthday", "Happy Birthday to You", "Mildred J. Hill and Patty Hill", "Holiday", "F", "major", "3/4", 3,
         100, _t("""
        C4:0.75 C4:0.25 | D4 C4 F4 | E4:2 C4:0.75 C4:0.25 | D4 C4 G4 | F4:2 C4:0.75 C4:0.25 |
        C5 A4 F4 | E4 D4 Bb4:0.75 Bb4:0.25 | A4 F4 G4 | F4:2"""),
        lead_program=65, note='melody of "Good Morning to All" (1893)'),
    Tune("jingle-bells", "Jingle Bells", "James Lord Pierpont", "Holiday", "G", "major", "4/4", 4, 132, _t("""
        B4 B4 B4:2 | B4 B4 B4:2 | B4 D5 G4:1.5 A4:0.5 | B4:4 |
        C5 C5 C5:1.5 C5:0.5 | C5 B4 B4 B4:0.5 B4:0.5 | B4 A4 A4 B4 | A4:2 D5:2 |
        B4 B4 B4:2 | B4 B4 B4:2 | B4 D5 G4:1.5 A4:0.5 | B4:4 |
        C5 C5 C5 C5 | C5 B4 B4 B4:0.5 B4:0.5 | D5 D5 C5 A4 | G4:4"""),
        lead_program=73, note="chorus"),
    Tune("silent-night", "Silent Night", "Franz Xaver Gruber", "Holiday", "C", "major", "6/8", 6, 150, _t("""
        G4:3 A4 G4:2 | E4:6 | G4:3 A4 G4:2 | E4:6 |
        D5:4 D5:2 | B4:6 | C5:4 C5:2 | G4:6 |
        A4:4 A4:2 | C5:3 B4 A4:2 | G4:3 A4 G4:2 | E4:6 |
        A4:4 A4:2 | C5:3 B4 A4:2 | G4:3 A4 G4:2 | E4:6 |
        D5:4 D5:2 | F5:3 D5 B4:2 | C5:6 | E5:6 |
        C5:3 G4 E4:2 | G4:3 F4 D4:2 | C4:6"""),
        beat="eighth", lead_program=73),
    Tune("we-wish-you-a-merry-christmas", "We Wish You a Merry Christmas", "Traditional", "Holiday", "G", "major", "3/4",
         3, 152, _t("""
        D4 | G4 G4:0.5 A4:0.5 G4:0.5 F#4:0.5 | E4 E4 E4 | A4 A4:0.5 B4:0.5 A4:0.5 G4:0.5 | F#4 D4 D4 |
        B4 B4:0.5 C5:0.5 B4:0.5 A4:0.5 | G4 E4 D4:0.5 D4:0.5 | E4 A4 F#4 | G4:2"""),
        lead_program=56),
    Tune("auld-lang-syne", "Auld Lang Syne", "Traditional", "Holiday", "F", "major", "4/4", 4, 92, _t("""
        C4 | F4:1.5 F4:0.5 F4 A4 | G4:1.5 F4:0.5 G4 A4 | F4:1.5 F4:0.5 A4 C5 | D5:3 D5 |
        C5:1.5 A4:0.5 A4 F4 | G4:1.5 F4:0.5 G4 A4 | F4:1.5 D4:0.5 D4 C4 | F4:3"""),
        lead_program=68, note="first verse; words by Robert Burns"),
    # ---------------------------------------------------------------- gospel
    Tune("amazing-grace", "Amazing Grace", "Traditional", "Gospel", "G", "major", "3/4", 3, 84, _t("""
        D4 | G4:2 B4:0.5 G4:0.5 | B4:2 A4 | G4:2 E4 | D4:2 D4 | G4:2 B4:0.5 G4:0.5 | B4:2 A4 | D5:3 | -:2 B4 |
        D5:2 B4:0.5 G4:0.5 | B4:2 A4 | G4:2 E4 | D4:2 D4 | G4:2 B4:0.5 G4:0.5 | B4:2 A4 | G4:2"""),
        lead_program=65, note='tune "New Britain"; words by John Newton'),
    Tune("when-the-saints", "When the Saints Go Marching In", "Traditional", "Gospel", "C", "major", "4/4", 4, 144, _t("""
        C4 E4 F4 | G4:4 | - C4 E4 F4 | G4:4 | - C4 E4 F4 | G4:2 E4:2 | C4:2 E4:2 | D4:4 |
        - E4 E4 D4 | C4:3 C4 | E4:2 G4:2 | G4:2 F4:2 | -:2 E4 F4 | G4:2 E4:2 | C4:2 D4:2 | C4:4"""),
        lead_program=56),
]

TUNES_BY_SLUG = {t.slug: t for t in TUNES}
