"""The demo collection: public-domain tunes in a compact notation, arranged and rendered as songs
with accompaniment, plus synthetic hums."""
